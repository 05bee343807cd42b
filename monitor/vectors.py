"""Embedding vectors as values: the array type, row normalisation and the stored byte form.
Pure numpy, so the pure stages (stories, relevance) can use vectors without the model edge."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]


def normalise_rows(vectors: npt.ArrayLike) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    normalised: Vectors = array / np.maximum(norms, 1e-12)
    return normalised


def encode_vector(vector: npt.NDArray[np.float32]) -> bytes:
    """Compact storage: little-endian float16 (cosines change by < 1e-3)."""
    return np.asarray(vector, dtype="<f2").tobytes()


def decode_vector(data: bytes) -> Vectors:
    return np.frombuffer(data, dtype="<f2").astype(np.float32)
