"""Story assignment: pure decisions over vectors and candidates (no I/O, no clock)."""

from __future__ import annotations


def is_same_story(similarity: float, threshold: float) -> bool:
    return similarity >= threshold
