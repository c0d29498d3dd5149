"""tfcalo.metrics."""
