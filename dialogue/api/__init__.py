"""The HTTP service: customers' chat, the reps' agent-assist panel, experiment owners' reports."""
