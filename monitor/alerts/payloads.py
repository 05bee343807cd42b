"""Alert bodies (pure). The webhook JSON schema, version 1:

{"schema": "monitor.alert/1", "type": "match.created" | "story.updated" | "digest",
 "id": <alert uid>, "rule": <rule name>, "created_at": <ISO 8601 UTC>, "message": <one line>,
 "story": {"id", "title", "outlets_count", "languages", "first_seen_at", "last_seen_at"},
 "score": <0..1>, "countries": [ISO 3166], "topics": [..],
 "reasons": {"russia": {kind: [terms]}, "latam": {code: [terms]}, "nearest_seed": {..}, ..},
 "articles": [{"id", "title", "url", "feed", "language", "published_at", "score",
               "countries", "topics"}],
 "stories": [ {story…, "score", "countries", "topics", "articles": [...]} ]   # digest only}
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

SCHEMA = "monitor.alert/1"


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    id: int
    title: str
    url: str | None
    feed: str
    language: str | None
    published_at: str
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoryInfo:
    id: int
    title: str
    outlets_count: int
    languages: tuple[str, ...]
    first_seen_at: str
    last_seen_at: str


@dataclass(frozen=True, slots=True)
class StoryAlertView:
    """One story as an alert shows it."""

    story: StoryInfo
    score: float
    countries: tuple[str, ...]
    topics: tuple[str, ...]
    reasons: Mapping[str, Any]
    articles: tuple[ArticleInfo, ...]


def alert_message(kind: str, view: StoryAlertView) -> str:
    if kind == "story.updated":
        return f"now reported by {view.story.outlets_count} outlets: {view.story.title}"
    return f"new story ({view.score:.2f}): {view.story.title}"


def story_json(view: StoryAlertView) -> dict[str, Any]:
    return {
        "story": {**asdict(view.story), "languages": list(view.story.languages)},
        "score": view.score,
        "countries": list(view.countries),
        "topics": list(view.topics),
        "reasons": dict(view.reasons),
        "articles": [
            {**asdict(a), "countries": list(a.countries), "topics": list(a.topics)}
            for a in view.articles
        ],
    }


def alert_body(uid: str, kind: str, rule: str, created_at: datetime, view: StoryAlertView) -> str:
    body = {
        "schema": SCHEMA,
        "type": kind,
        "id": uid,
        "rule": rule,
        "created_at": created_at.isoformat(),
        "message": alert_message(kind, view),
        **story_json(view),
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def digest_body(uid: str, rule: str, created_at: datetime, views: Sequence[StoryAlertView]) -> str:
    ordered = sorted(views, key=lambda v: v.score, reverse=True)
    body = {
        "schema": SCHEMA,
        "type": "digest",
        "id": uid,
        "rule": rule,
        "created_at": created_at.isoformat(),
        "message": f"{len(ordered)} stories for rule {rule}",
        "stories": [story_json(v) for v in ordered],
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def stories_of(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stories an alert body carries (one, or a digest's many)."""
    if payload.get("type") == "digest":
        return list(payload.get("stories", []))
    return [payload]


def slack_body(payload: Mapping[str, Any]) -> str:
    """A Slack/Mattermost-compatible body: `text` with mrkdwn links."""
    lines = [f"*{payload['message']}*"]
    for entry in stories_of(payload):
        story = entry["story"]
        countries = ", ".join(entry["countries"]) or "-"
        topics = ", ".join(entry["topics"]) or "-"
        lines.append(
            f"• {story['title']} — {story['outlets_count']} outlets, score {entry['score']:.2f}, "
            f"countries {countries}, topics {topics}"
        )
        lines += [f"    <{a['url']}|{a['title']}>" for a in entry["articles"][:5] if a.get("url")]
    return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False)


def header_safe(value: str, limit: int = 200) -> str:
    """Nothing feed-supplied may start a new header line."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())[:limit]


def email_message(
    payload: Mapping[str, Any], sender: str, recipients: Sequence[str], message_id: str
) -> EmailMessage:
    """Plain text plus an HTML alternative; every feed-supplied string escaped in the HTML."""
    message = EmailMessage()
    message["Subject"] = header_safe(f"[monitor] {payload['message']}")
    message["From"] = header_safe(sender)
    message["To"] = ", ".join(header_safe(r) for r in recipients)
    message["Message-ID"] = message_id
    message["X-Monitor-Alert"] = header_safe(f"{payload['type']} {payload['id']}")
    text, rows = [str(payload["message"]), ""], []
    for entry in stories_of(payload):
        story = entry["story"]
        summary = (
            f"{story['outlets_count']} outlets, score {entry['score']:.2f}, countries "
            f"{', '.join(entry['countries']) or '-'}, topics {', '.join(entry['topics']) or '-'}"
        )
        text += [story["title"], summary]
        text += [f"  - {a['title']} <{a.get('url') or ''}>" for a in entry["articles"]]
        text.append("")
        links = "".join(
            f'<li><a href="{html.escape(a.get("url") or "", quote=True)}">'
            f"{html.escape(a['title'])}</a> ({html.escape(a['feed'])})</li>"
            for a in entry["articles"]
        )
        rows.append(
            f"<h3>{html.escape(story['title'])}</h3><p>{html.escape(summary)}</p><ul>{links}</ul>"
        )
    message.set_content("\n".join(text))
    message.add_alternative(
        f"<html><body><p><b>{html.escape(str(payload['message']))}</b></p>{''.join(rows)}</body></html>",
        subtype="html",
    )
    return message
