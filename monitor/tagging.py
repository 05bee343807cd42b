"""Relevance tagging of batches: embeddings, nearest seed passage, gazetteer evidence, score."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from monitor.config import read_toml
from monitor.embed import Embedder, Vectors
from monitor.errors import ConfigError
from monitor.gazetteer import Gazetteer, load_gazetteer
from monitor.relevance import FEATURES, NearestSeed, Relevance, RelevanceModel, assess
from monitor.seeds import Seed, list_seed_files, read_seed, seed_set_digest


@dataclass(frozen=True, slots=True)
class SeedIndex:
    """Every seed passage's vector, with the seed it came from."""

    seeds: tuple[Seed, ...]
    passage_seed: tuple[str, ...]
    vectors: Vectors
    model_id: str

    @property
    def digest(self) -> str:
        return seed_set_digest(self.seeds)

    def nearest(self, vectors: Vectors) -> list[NearestSeed | None]:
        """The most similar seed passage for each row of `vectors`."""
        if not len(self.passage_seed) or not len(vectors):
            return [None] * len(vectors)
        similarities = vectors @ self.vectors.T
        best = similarities.argmax(axis=1)
        return [
            NearestSeed(self.passage_seed[i], float(similarities[row, i]))
            for row, i in enumerate(best)
        ]


def build_seed_index(directory: Path, embedder: Embedder, cache_dir: Path | None) -> SeedIndex:
    """Load, clean and split the seeds; embed the passages once and cache them by content."""
    seeds = tuple(read_seed(path) for path in list_seed_files(directory))
    passages = [passage for seed in seeds for passage in seed.passages]
    owners = tuple(seed.name for seed in seeds for _ in seed.passages)
    key = hashlib.sha256(f"{embedder.model_id}|{seed_set_digest(seeds)}".encode()).hexdigest()[:20]
    cache = cache_dir / f"seeds-{key}.npy" if cache_dir else None
    if cache and cache.exists():
        vectors = np.load(cache)
    else:
        vectors = embedder.embed(passages)
        if cache:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
    return SeedIndex(seeds, owners, vectors.astype(np.float32), embedder.model_id)


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


@dataclass(frozen=True, slots=True)
class Tagger:
    """Everything relevance tagging needs, built once at start-up."""

    gazetteer: Gazetteer
    model: RelevanceModel
    seeds: SeedIndex
    embedder: Embedder

    @property
    def version(self) -> str:
        """Model id, seed-set hash and settings hash: stored with every match."""
        settings = json.dumps(
            {
                "weights": dict(self.model.weights),
                "bias": self.model.bias,
                "threshold": self.model.threshold,
                "gazetteer": self.gazetteer.fingerprint,
            },
            sort_keys=True,
        )
        settings_hash = hashlib.sha256(settings.encode()).hexdigest()[:12]
        return f"{self.embedder.model_id}|seeds:{self.seeds.digest}|settings:{settings_hash}"

    def embed_items(self, items: Sequence[tuple[str, str]]) -> Vectors:
        return self.embedder.embed([embedding_text(title, summary) for title, summary in items])

    def tag(self, items: Sequence[tuple[str, str]]) -> list[Relevance]:
        return self.tag_with_vectors(items, self.embed_items(items))

    def tag_with_vectors(
        self, items: Sequence[tuple[str, str]], vectors: Vectors
    ) -> list[Relevance]:
        return self.assess_all(items, self.seeds.nearest(vectors))

    def assess_all(
        self, items: Sequence[tuple[str, str]], nearest: Sequence[NearestSeed | None]
    ) -> list[Relevance]:
        return [
            assess(self.gazetteer, self.model, title, summary, seed)
            for (title, summary), seed in zip(items, nearest, strict=True)
        ]


def embedding_text(title: str, summary: str) -> str:
    """What is embedded for an article: title and summary (the embedder truncates)."""
    return f"{title}. {summary}".strip(". ") if summary else title


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
        seeds=build_seed_index(seeds_dir, embedder, cache_dir),
        embedder=embedder,
    )


def relevance_record(item_id: object, relevance: Relevance) -> Mapping[str, object]:
    return {
        "id": item_id,
        "relevant": relevance.relevant,
        "score": relevance.score,
        "countries": list(relevance.countries),
        "topics": list(relevance.topics),
        "reasons": relevance.reasons,
    }
