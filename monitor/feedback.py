"""Judgements and what they decide (pure): an article's effective relevance, the override
marker match records carry, the JSON a judgement is shown as, and the labelled lines
`monitor eval` reads. A later judgement of the same item supersedes earlier ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.feedback_values import FeedbackKind, FeedbackRecord, JudgedText

OVERRIDE_FEEDBACK = "feedback"  # the `override` of a match whose relevance a judgement set


def effective_relevance(tagger_relevant: bool, judged: bool | None) -> bool:
    """The analyst's latest judgement when there is one, else the tagger's decision."""
    return tagger_relevant if judged is None else judged


def override_of(tagger_relevant: bool, judged: bool | None) -> str | None:
    """`"feedback"` when a judgement contradicts the tagger, else None."""
    return OVERRIDE_FEEDBACK if judged is not None and judged != tagger_relevant else None


def latest_judgements(records: Iterable[FeedbackRecord]) -> list[FeedbackRecord]:
    """The newest judgement per (kind, article, story), oldest first; a judgement whose article
    was pruned stands alone."""
    latest: dict[tuple[Any, ...], FeedbackRecord] = {}
    for record in sorted(records, key=lambda r: r.id):
        if record.article_id is None:
            key: tuple[Any, ...] = (record.kind, "pruned", record.id)
        elif record.kind is FeedbackKind.SAME_STORY:
            key = (record.kind, record.article_id, record.story_id)
        else:
            key = (record.kind, record.article_id)
        latest.pop(key, None)
        latest[key] = record
    return list(latest.values())


def judgement_item(record: FeedbackRecord) -> dict[str, Any]:
    """A judgement as `GET /feedback` lists it: its verdict under its kind's name."""
    return {
        "id": record.id,
        str(record.kind): record.value,
        "article_id": record.article_id,
        "story_id": record.story_id,
        "created_at": record.created_at.isoformat(),
        "author": record.author,
        "scorer_version": record.scorer_version,
        "predicted": record.predicted,
        "title": record.judged.title,
        "language": record.judged.language,
        "feed": record.feed_url,
    }


def item_id(record: FeedbackRecord) -> str:
    if record.article_id is None:
        return f"feedback-{record.id}"
    if record.kind is FeedbackKind.SAME_STORY:
        return f"article-{record.article_id}-story-{record.story_id}"
    return f"article-{record.article_id}"


def relevance_line(record: FeedbackRecord) -> dict[str, Any]:
    """One line in the format of `monitor eval relevance` (`label` 1 relevant, 0 not)."""
    return {
        "id": item_id(record),
        "lang": record.judged.language,
        "title": record.judged.title,
        "summary": record.judged.summary,
        "published": record.created_at.date().isoformat(),
        "source": record.feed_url or "",
        "label": int(record.value),
        "kind": "feedback",
        "author": record.author,
        "scorer_version": record.scorer_version,
    }


def side(text: JudgedText | None) -> dict[str, Any]:
    if text is None:
        return {"title": "", "text": "", "lang": None}
    return {"title": text.title, "text": text.summary, "lang": text.language}


def same_story_line(record: FeedbackRecord) -> dict[str, Any]:
    """One pair in the format of `monitor eval same-story`: the article and its story's side."""
    return {
        "id": item_id(record),
        "a": side(record.judged),
        "b": side(record.other),
        "origin": "feedback",
        "same_story": record.value,
        "author": record.author,
    }


def export_lines(records: Sequence[FeedbackRecord], kind: FeedbackKind) -> list[dict[str, Any]]:
    """The latest judgement of each item of `kind`, as labelled lines."""
    chosen = [r for r in latest_judgements(records) if r.kind is kind]
    line = relevance_line if kind is FeedbackKind.RELEVANT else same_story_line
    return [line(r) for r in chosen]
