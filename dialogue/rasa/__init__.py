"""Pieces of the Rasa action server (:mod:`dialogue.rasa_actions`).

- :mod:`.tracker`: reading the untrusted Rasa tracker: slots, authentication evidence, the
  idempotency key, the conversation and a DialogueState;
- :mod:`.suggestions`: the ranked reply's agent, its suggestions and their wire format.
"""
