"""The service's routes, one module per kind of user (and the pages)."""
