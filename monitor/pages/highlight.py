"""Matched terms marked in a text, as segments the template escapes one by one and wraps
in `<mark>`: the text is never turned into markup, so feed text stays inert."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Segment:
    text: str
    side: str | None  # "russia", "latam" or "context": a matched term; None: plain text


def terms_by_side(reasons: Mapping[str, Any]) -> dict[str, set[str]]:
    """The matched terms of each side of the reasons `monitor.relevance` records."""
    sides: dict[str, set[str]] = {"russia": set(), "latam": set(), "context": set()}
    for side in ("russia", "latam", "context"):
        groups = reasons.get(side) or {}
        if isinstance(groups, Mapping):
            for terms in groups.values():
                sides[side].update(t for t in as_list(terms) if isinstance(t, str) and t.strip())
    sides["latam"].update(t for t in as_list(reasons.get("region")) if isinstance(t, str))
    sides["context"].update(t for t in as_list(reasons.get("relation")) if isinstance(t, str))
    return sides


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def highlight(text: str, sides: Mapping[str, Iterable[str]]) -> list[Segment]:
    """`text` cut into plain and matched segments (case-insensitive, whole words, longest
    term first)."""
    side_of = {t.casefold(): side for side, terms in sides.items() for t in terms if t.strip()}
    if not side_of or not text:
        return [Segment(text, None)] if text else []
    alternatives = "|".join(re.escape(t) for t in sorted(side_of, key=len, reverse=True))
    pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
    segments, start = [], 0
    for hit in pattern.finditer(text):
        if hit.start() > start:
            segments.append(Segment(text[start : hit.start()], None))
        segments.append(Segment(hit.group(0), side_of.get(hit.group(0).casefold(), "context")))
        start = hit.end()
    if start < len(text):
        segments.append(Segment(text[start:], None))
    return segments
