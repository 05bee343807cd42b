"""Relevance tagging of batches: embeddings, nearest seed passage, gazetteer evidence, score.

A `Tagger` is built from values (gazetteer, model, seed index, embedder) and reads no file:
`monitor.relevance_files` loads them. Its only edge is the embedder it is given."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitor.embed import Embedder, Vectors
from monitor.gazetteer import Gazetteer
from monitor.relevance import NearestSeed, Relevance, RelevanceModel, assess
from monitor.seeds import Seed, seed_set_digest


@dataclass(frozen=True, slots=True)
class SeedIndex:
    """Every seed passage's vector, with the seed it came from."""

    seeds: tuple[Seed, ...]
    passage_seed: tuple[str, ...]
    vectors: Vectors
    model_id: str
    titles: Mapping[str, str] = field(default_factory=dict)  # seed name → headline

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
            NearestSeed(
                self.passage_seed[i],
                float(similarities[row, i]),
                self.titles.get(self.passage_seed[i], ""),
            )
            for row, i in enumerate(best)
        ]


def index_seeds(
    seeds: Sequence[Seed], embedder: Embedder, titles: Mapping[str, str] | None = None
) -> SeedIndex:
    """Embed every passage of `seeds` (the loader caches the result by `seed_cache_key`)."""
    passages = [passage for seed in seeds for passage in seed.passages]
    return seed_index_from_vectors(seeds, embedder.embed(passages), embedder.model_id, titles)


def seed_index_from_vectors(
    seeds: Sequence[Seed],
    vectors: Vectors,
    model_id: str,
    titles: Mapping[str, str] | None = None,
) -> SeedIndex:
    owners = tuple(seed.name for seed in seeds for _ in seed.passages)
    return SeedIndex(tuple(seeds), owners, vectors.astype(np.float32), model_id, dict(titles or {}))


def seed_cache_key(seeds: Sequence[Seed], model_id: str) -> str:
    """Names the embedded passages of one seed set under one model."""
    return hashlib.sha256(f"{model_id}|{seed_set_digest(seeds)}".encode()).hexdigest()[:20]


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


def relevance_record(item_id: object, relevance: Relevance) -> Mapping[str, object]:
    return {
        "id": item_id,
        "relevant": relevance.relevant,
        "score": relevance.score,
        "countries": list(relevance.countries),
        "topics": list(relevance.topics),
        "reasons": relevance.reasons,
    }
