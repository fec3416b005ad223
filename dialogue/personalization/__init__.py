"""Personalization: CF + content vectors of purchase histories, fused into soft tokens (REGEN).

- :mod:`.history`: purchases, returns and cancellations read from the store (ALS confidences);
- :mod:`.cf`: implicit-feedback ALS (``implicit``) and fold-in of customers the fit has not seen;
- :mod:`.content`: MiniLM sentence embeddings of item text;
- :mod:`.artifact`: the versioned file of both, fused on read (``csbot personalize fit``);
- :mod:`.soft`: the per-turn sequence both models read; :mod:`.adapter`: its projection;
- :mod:`.orders`: finding the order a customer describes among their own orders.

Submodules are imported where used (the ranker imports only the adapter).
"""
