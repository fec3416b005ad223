"""HTTP service (arrives with the service issue)."""
