"""Loading what the tagger is built from: the weights file, the seed folder (with its vectors
cached by content) and the gazetteer, and writing calibrated weights back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from monitor.config import read_toml
from monitor.embed import Embedder
from monitor.errors import ConfigError
from monitor.gazetteer import load_gazetteer
from monitor.relevance import FEATURES, RelevanceModel
from monitor.seeds import list_seed_files, read_seed
from monitor.tagging import (
    SeedIndex,
    Tagger,
    index_seeds,
    seed_cache_key,
    seed_index_from_vectors,
)

SEED_TITLE_CHARS = 200


def open_tagger(
    gazetteer_dir: Path,
    model_file: Path,
    seeds_dir: Path,
    embedder: Embedder,
    cache_dir: Path | None,
) -> Tagger:
    return Tagger(
        gazetteer=load_gazetteer(gazetteer_dir),
        model=load_relevance_model(model_file),
        seeds=load_seed_index(seeds_dir, embedder, cache_dir),
        embedder=embedder,
    )


def load_seed_index(directory: Path, embedder: Embedder, cache_dir: Path | None) -> SeedIndex:
    """Read, clean and split the seeds; embed the passages once and cache them by content."""
    paths = list_seed_files(directory)
    seeds = [read_seed(path) for path in paths]
    titles = {seed.name: seed_title(path) for seed, path in zip(seeds, paths, strict=True)}
    cache = (
        cache_dir / f"seeds-{seed_cache_key(seeds, embedder.model_id)}.npy" if cache_dir else None
    )
    if cache and cache.exists():
        return seed_index_from_vectors(seeds, np.load(cache), embedder.model_id, titles)
    index = index_seeds(seeds, embedder, titles)
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, index.vectors)
    return index


def seed_title(path: Path) -> str:
    """A seed's headline: the first non-empty line of its file (the reasons name it)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return line.strip()[:SEED_TITLE_CHARS]
    return ""


def load_relevance_model(path: Path) -> RelevanceModel:
    data = read_toml(path)
    try:
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ConfigError(f"{path}: weights: unknown feature {sorted(unknown)[0]}")
        return RelevanceModel(
            weights=weights, bias=float(data["bias"]), threshold=float(data["threshold"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or invalid {exc}") from None


def write_relevance_model(path: Path, model: RelevanceModel, comment: str) -> None:
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"threshold = {model.threshold:.4f}", f"bias = {model.bias:.4f}", "", "[weights]"]
    lines += [f"{name} = {model.weights.get(name, 0.0):.4f}" for name in FEATURES]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
