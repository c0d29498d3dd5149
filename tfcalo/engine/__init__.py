"""tfcalo.engine: the TFX-style component and pipeline engine.

- :mod:`~tfcalo.engine.runner`: components, nodes and pipelines, artifacts, fingerprints,
  the cache, crash-safe publishing, resume, :func:`~tfcalo.engine.runner.run_pipeline`,
  ``log`` and ``current_context`` for executors;
- :mod:`~tfcalo.engine.store`: the SQLite metadata store (runs, executions, artifacts,
  lineage) under a pipeline root.

The engine knows nothing of physics or models: components (``tfcalo.components``) adapt
library calls to it and pipelines (``tfcalo.pipelines``) wire them.
"""
