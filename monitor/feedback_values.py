"""Frozen values of the analyst's workspace: judgements, inbox state, saved views and the
quality figures feedback yields. Storage returns these; the faces show them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class FeedbackKind(enum.StrEnum):
    """What a judgement is about."""

    RELEVANT = "relevant"  # is this article about Russia–Latin America relations?
    SAME_STORY = "same_story"  # does this article belong to the story it was put in?


@dataclass(frozen=True, slots=True)
class JudgedText:
    """The text a judgement was made on, copied when it was made."""

    article_id: int | None
    title: str
    summary: str
    language: str | None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One stored judgement. For `same_story`, `other` is the story's side of the pair (its
    first other article, or the story's title when it had no other member)."""

    id: int
    kind: FeedbackKind
    value: bool
    article_id: int | None
    story_id: int | None
    created_at: datetime
    author: str
    scorer_version: str | None
    predicted: bool | None  # the tagger's decision when the judgement was made
    score: float | None
    feed_url: str | None
    judged: JudgedText
    other: JudgedText | None = None


@dataclass(frozen=True, slots=True)
class FeedbackFilter:
    """What `list_feedback` narrows by (None: any)."""

    kind: FeedbackKind | None = None
    value: bool | None = None
    article_id: int | None = None
    story_id: int | None = None
    author: str | None = None
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class ArticleState:
    """An article's inbox state; `updated_at` None means never touched (unread, not starred)."""

    article_id: int
    read: bool = False
    starred: bool = False
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SavedViewRecord:
    """A named inbox filter; `filter` holds `monitor.views` parameters (JSON-ready)."""

    name: str
    filter: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Precision:
    """How the tagger's relevant flag fares against the latest judgement of each article."""

    judged: int  # articles with a relevance judgement
    flagged: int  # of those, the ones the tagger called relevant
    confirmed: int  # of the flagged, the ones judged relevant
    missed: int  # judged relevant although the tagger said not relevant

    @property
    def precision(self) -> float | None:
        return self.confirmed / self.flagged if self.flagged else None


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """What the Quality page shows: precision overall, per language and per feed, and counts."""

    judgements: int  # every stored judgement, superseded ones included
    relevance_judgements: int
    same_story_judgements: int
    split_off: int  # articles judged not the same story
    overall: Precision
    by_language: Mapping[str, Precision] = field(default_factory=dict)
    by_feed: Mapping[str, Precision] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SplitResult:
    """An article moved out of its story into a story of its own."""

    article_id: int
    old_story_id: int
    new_story_id: int


@dataclass(frozen=True, slots=True)
class SentAlerts:
    """What sending a match as an alert by hand did, by rule name."""

    raised: tuple[str, ...] = ()  # a match.created was queued for these rules' channels
    already_alerted: tuple[str, ...] = ()  # the story had its match.created under these

    @property
    def matched(self) -> bool:
        return bool(self.raised or self.already_alerted)
