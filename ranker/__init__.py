"""Cross-attention template ranker (arrives with the ranker issue)."""
