"""In-memory stand-ins for unit tests of the pure core."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from monitor.embed import Vectors, normalise_rows
from monitor.normalize import fold_text

DIMENSIONS = 256


class BagOfWordsEmbedder:
    """Hashed bag of words: texts sharing words are similar; deterministic; counts its calls."""

    model_id = "fake-bag-of-words"
    max_chars = 10_000

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        matrix = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in fold_text(text).split():
                matrix[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
        matrix[~matrix.any(axis=1), 0] = 1.0
        return normalise_rows(matrix)
