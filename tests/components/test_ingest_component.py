"""The ingest component: the pipeline executor fills its output with the library's artifact."""

from __future__ import annotations

import numpy as np
from tfcalo.components import ingest

from tfcalo.data.dataset import Dataset
from tfcalo.data.formats import CommunityWriter


def write_cern(path, n, seed=0):
    rng = np.random.default_rng(seed)
    with CommunityWriter(path, "cern-ecal") as w:
        w.write(rng.random((n, 25, 25, 25)).astype(np.float32) * 1e-3,
                rng.uniform(2, 500, n)[:, None])


def test_executor_fills_output_dir(tmp_path):
    src = tmp_path / "c.h5"
    write_cern(src, 12)
    out = tmp_path / "examples"
    out.mkdir()
    params = dict(ingest.COMPONENT.parameters, src=str(src), detector="cern-ecal")
    props = ingest.executor({}, {"examples": out}, params)
    assert props["examples"]["total"] == 12
    assert Dataset.open(out).count("train") == props["examples"]["counts"]["train"]
    assert ingest.COMPONENT.outputs == {"examples": "Examples"}
