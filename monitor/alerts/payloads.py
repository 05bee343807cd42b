"""Alert bodies (pure). The webhook JSON schema, version 1:

{"schema": "monitor.alert/1",
 "type": "match.created" | "story.developing" | "story.updated" | "digest",
 "id": <alert uid>, "rule": <rule name>, "created_at": <ISO 8601 UTC>, "message": <one line>,
 "story": {"id", "title", "outlets_count", "languages", "first_seen_at", "last_seen_at"},
 "thread": {"id", "events": [{"id", "title", "outlets_count", "first_seen_at"}]} | null,
   # the story is one news event; its thread's other (earlier) events are context
 "score": <0..1>, "countries": [ISO 3166], "topics": [..],
 "reasons": {"russia": {kind: [terms]}, "latam": {code: [terms]}, "nearest_seed": {..}, ..},
 "articles": [{"id", "title", "url", "feed", "feed_name", "language", "published_at", "score",
               "countries", "topics"}],
 "stories": [ {story…, "score", "countries", "topics", "articles": [...]} ]   # digest only}

The JSON carries feed text as it is; the Slack and email renderings escape it for their markup
(Slack: `&`, `<`, `>`; HTML: `html.escape`) and keep it out of email header lines.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from monitor.values import AlertType, ArticleInfo, StoryAlertView, StoryInfo

__all__ = [
    "ArticleInfo",
    "StoryAlertView",
    "StoryInfo",
    "alert_body",
    "count_of",
    "digest_body",
    "email_message",
    "slack_body",
]

SCHEMA = "monitor.alert/1"
SLACK_ARTICLES = 5
# In this order (the stored JSON's keys are sorted); unknown kinds follow, the seed comes last.
REASON_LABELS = {
    "russia": "Russia",
    "latam": "Latin America",
    "region": "Region",
    "context": "Context",
    "relation": "Relation",
    "roundup_line": "Roundup line",
}
LINKABLE_SCHEMES = ("http://", "https://")


def count_of(count: int, singular: str, plural: str | None = None) -> str:
    """`1 outlet`, `2 outlets`, `1 story`, `3 stories`."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def alert_message(kind: str, view: StoryAlertView) -> str:
    if kind == AlertType.STORY_UPDATED:
        outlets = count_of(view.story.outlets_count, "outlet")
        return f"now reported by {outlets}: {view.story.title}"
    if kind == AlertType.STORY_DEVELOPING:
        return f"story develops ({view.score:.2f}): {view.story.title}"
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
        "thread": dict(view.thread) if view.thread is not None else None,
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
        "type": AlertType.DIGEST,
        "id": uid,
        "rule": rule,
        "created_at": created_at.isoformat(),
        "message": f"{count_of(len(ordered), 'story', 'stories')} for rule {rule}",
        "stories": [story_json(v) for v in ordered],
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def stories_of(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stories an alert body carries (one, or a digest's many)."""
    if payload.get("type") == AlertType.DIGEST:
        return list(payload.get("stories", []))
    return [payload]


def as_words(value: object) -> str:
    """Stored reason terms as plain text: lists joined by commas, mappings as `key: terms`."""
    if isinstance(value, Mapping):
        return "; ".join(f"{key}: {as_words(item)}" for key, item in value.items() if item)
    if isinstance(value, list | tuple):
        return ", ".join(as_words(item) for item in value)
    return str(value)


def reason_phrases(reasons: Mapping[str, Any]) -> list[str]:
    """Why a story matched, one phrase per kind of evidence, in words an analyst reads:
    `Russia — officials: lavrov`, `Latin America — CU: havana`, `Closest seed story: …`."""
    phrases = []
    order = [*REASON_LABELS, *sorted(set(reasons) - set(REASON_LABELS) - {"nearest_seed"})]
    for key in [*order, "nearest_seed"]:
        value = reasons.get(key)
        if not value:
            continue
        if key == "nearest_seed" and isinstance(value, Mapping):
            phrases.append(
                f"Closest seed story: {value.get('title') or value.get('name', '?')} "
                f"(similarity {as_words(value.get('similarity', '?'))})"
            )
            continue
        label = REASON_LABELS.get(key, key.replace("_", " ").capitalize())
        separator = " — " if isinstance(value, Mapping) else ": "
        phrases.append(f"{label}{separator}{as_words(value)}")
    return phrases


def feed_label(article: Mapping[str, Any]) -> str:
    """The feed's name when it has one, else its URL."""
    return str(article.get("feed_name") or article.get("feed") or "unknown feed")


def story_summary(entry: Mapping[str, Any]) -> str:
    return (
        f"{count_of(int(entry['story']['outlets_count']), 'outlet')}, "
        f"score {entry['score']:.2f}, countries {', '.join(entry['countries']) or '-'}, "
        f"topics {', '.join(entry['topics']) or '-'}"
    )


def feed_names(entry: Mapping[str, Any]) -> str:
    return ", ".join(dict.fromkeys(feed_label(a) for a in entry["articles"]))


def is_linkable(url: object) -> bool:
    return isinstance(url, str) and url.lower().startswith(LINKABLE_SCHEMES)


def slack_escape(text: object) -> str:
    """Slack's three control characters as entities, so feed text cannot ping or forge links."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_link(url: object, label: object) -> str:
    """`<url|label>` for http(s) URLs; a `|` in the URL would start the label, so it is
    percent-encoded."""
    if not is_linkable(url):
        return slack_escape(label)
    return f"<{slack_escape(url).replace('|', '%7C')}|{slack_escape(label)}>"


def slack_body(payload: Mapping[str, Any]) -> str:
    """A Slack/Mattermost-compatible body: `text` in mrkdwn, every feed string escaped."""
    lines = [f"*{slack_escape(payload['message'])}*"]
    for entry in stories_of(payload):
        lines.append(
            f"• {slack_escape(entry['story']['title'])} — {slack_escape(story_summary(entry))}"
        )
        why = reason_phrases(entry.get("reasons") or {})
        if why:
            lines.append(f"    why: {slack_escape('; '.join(why))}")
        lines += [
            f"    {slack_link(a.get('url'), a['title'])} ({slack_escape(feed_label(a))})"
            for a in entry["articles"][:SLACK_ARTICLES]
        ]
    return json.dumps({"text": "\n".join(lines)}, ensure_ascii=False)


def header_safe(value: str, limit: int = 200) -> str:
    """Nothing feed-supplied may start a new header line: every run of whitespace, line breaks
    included, becomes one space."""
    return " ".join(value.split())[:limit]


def email_text(payload: Mapping[str, Any]) -> str:
    text = [str(payload["message"]), ""]
    for entry in stories_of(payload):
        text += [entry["story"]["title"], story_summary(entry)]
        text.append(f"Reported by: {feed_names(entry)}")
        why = reason_phrases(entry.get("reasons") or {})
        if why:
            text.append("Why it matched:")
            text += [f"  * {phrase}" for phrase in why]
        text.append("Articles:")
        text += [
            f"  - {a['title']} — {feed_label(a)} <{a.get('url') or ''}>" for a in entry["articles"]
        ]
        text.append("")
    return "\n".join(text)


def html_link(url: object, label: str) -> str:
    if not is_linkable(url):
        return html.escape(label)
    return f'<a href="{html.escape(str(url), quote=True)}">{html.escape(label)}</a>'


def email_html(payload: Mapping[str, Any]) -> str:
    rows = []
    for entry in stories_of(payload):
        why = "".join(
            f"<li>{html.escape(p)}</li>" for p in reason_phrases(entry.get("reasons") or {})
        )
        links = "".join(
            f"<li>{html_link(a.get('url'), a['title'])} ({html.escape(feed_label(a))})</li>"
            for a in entry["articles"]
        )
        rows.append(
            f"<h3>{html.escape(entry['story']['title'])}</h3>"
            f"<p>{html.escape(story_summary(entry))}</p>"
            f"<p>Reported by: {html.escape(feed_names(entry))}</p>"
            + (f"<p>Why it matched:</p><ul>{why}</ul>" if why else "")
            + f"<ul>{links}</ul>"
        )
    message = html.escape(str(payload["message"]))
    return f"<html><body><p><b>{message}</b></p>{''.join(rows)}</body></html>"


def email_message(
    payload: Mapping[str, Any], sender: str, recipients: Sequence[str], message_id: str
) -> EmailMessage:
    """Plain text plus an HTML alternative; every feed-supplied string escaped in the HTML."""
    message = EmailMessage()
    message["Subject"] = header_safe(f"[monitor] {payload['message']}")
    message["From"] = header_safe(sender)
    message["To"] = ", ".join(header_safe(r) for r in recipients)
    message["Message-ID"] = header_safe(message_id)
    message["X-Monitor-Alert"] = header_safe(f"{payload['type']} {payload['id']}")
    message.set_content(email_text(payload))
    message.add_alternative(email_html(payload), subtype="html")
    return message
