"""Soft-token-conditioned reply generator (arrives with the generator issue)."""
