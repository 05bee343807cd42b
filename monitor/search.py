"""Semantic search over stored matches, written once for the API and the CLI.

The question is embedded before any session opens (the model can take a while and must not
hold a connection); then one query loads the candidates' vectors and one more the records of
the best ones. Candidates are the newest `SEARCH_CANDIDATES` filtered matches with a vector
of the embedder's model, a scan an index will replace.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from monitor.embed import Embedder, decode_vector
from monitor.filters import MatchFilter
from monitor.storage.queries import get_matches, vectors_for_search

SEARCH_CANDIDATES = 20_000
SIMILARITY_DIGITS = 4


def search_matches(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    question: str,
    match_filter: MatchFilter,
    limit: int,
    min_similarity: float,
) -> list[dict[str, Any]]:
    """Match records nearest in meaning to `question`, best first, each with its
    `similarity` (cosine); none below `min_similarity`, at most `limit`."""
    query = embedder.embed([question])[0]
    with sessions() as session:
        rows = vectors_for_search(session, match_filter, embedder.model_id, SEARCH_CANDIDATES)
        if not rows:
            return []
        similarity = stack_vectors([vector for _, vector in rows]) @ query
        best = [int(i) for i in np.argsort(-similarity, kind="stable")[:limit]]
        kept = [i for i in best if similarity[i] >= min_similarity]
        records = get_matches(session, [rows[i][0] for i in kept])
    return [
        {**records[rows[i][0]], "similarity": round(float(similarity[i]), SIMILARITY_DIGITS)}
        for i in kept
        if rows[i][0] in records
    ]


def stack_vectors(blobs: list[bytes]) -> npt.NDArray[np.float32]:
    """Stored vectors (all of one model, so of one size) as one matrix, a row each."""
    return decode_vector(b"".join(blobs)).reshape(len(blobs), -1)
