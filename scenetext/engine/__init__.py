"""Training and evaluation: configs, Lightning module, checkpoints, protocols and metrics."""
