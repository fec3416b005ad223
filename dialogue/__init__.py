"""csbot dialogue layer: state tracking, NLU, policy, actions, agents and the store."""
