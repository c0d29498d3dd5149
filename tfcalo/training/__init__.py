"""tfcalo.training."""
