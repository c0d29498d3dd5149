"""Pipeline definitions and presets (installed as tfcalo.pipelines)."""
