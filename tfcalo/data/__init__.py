"""tfcalo.data."""
