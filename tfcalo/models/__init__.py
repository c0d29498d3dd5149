"""tfcalo.models."""
