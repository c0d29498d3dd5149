"""TFX-style components of tfcalo (installed as tfcalo.components)."""
