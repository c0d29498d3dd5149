"""Reading a slice of the Geant4 files in ../shared/data (never copied) quickly.

The files are gzip-compressed in chunks of 100 showers; indexing rows one by one (or by a
scattered index list) decompresses each chunk many times. :func:`read_rows` reads
contiguous blocks instead and keeps the rows asked for.
"""

from __future__ import annotations

import h5py
import numpy as np


def read_rows(dataset: h5py.Dataset, index: np.ndarray, block: int = 1000) -> np.ndarray:
    """``dataset[index]`` for a sorted index array, read in contiguous blocks of ``block``
    rows (same result as h5py's fancy indexing, about 3x faster on the gzip-chunked files)."""
    index = np.asarray(index)
    if np.any(np.diff(index) <= 0):
        raise ValueError("read_rows needs a strictly increasing index")
    parts = []
    for start in range(int(index[0]) // block * block, int(index[-1]) + 1, block):
        rows = index[(index >= start) & (index < start + block)] - start
        if len(rows):
            parts.append(dataset[start:start + rows[-1] + 1][rows])
    return np.concatenate(parts)
