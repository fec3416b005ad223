"""Simulated store world, scripted customers and (later) the A/B harness."""
