"""Shared pytest fixtures.

Tests read at most a small slice of the Geant4 files in ../shared/data (never copied).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `tfcalo` subprocesses started by tests leave TensorFlow's native lines in their captured
# stderr instead of appending them to the user's ~/.cache/tfcalo/tensorflow.log
# (tests/test_native_log.py removes this to test the default).
os.environ.setdefault("TFCALO_TF_LOG", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Directory of the Geant4 reference files; skips if it is not present."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
