"""The default feed list (`config/feeds.toml`) and OPML import/export. `load_feed_file` reads
its file; `read_opml` and `write_opml` are pure (bytes in, values out; values in, text out)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.config import describe_validation_error, read_toml
from monitor.errors import ConfigError
from monitor.limits import (
    MAX_FEED_NAME_CHARS,
    MAX_LANGUAGE_CHARS,
    MAX_URL_CHARS,
    fit_or_none,
    truncate_or_none,
)
from monitor.values import FeedRecord, FeedSpec


class FeedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    url: str
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    poll_interval_s: int = Field(default=900, ge=30)

    @field_validator("url")
    @classmethod
    def require_http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return url


class FeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feeds: list[FeedEntry]


def load_feed_file(path: Path) -> list[FeedSpec]:
    """Read and validate a feeds.toml; a bad one raises ConfigError naming file and key."""
    try:
        parsed = FeedFile(**read_toml(path))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(path, exc)) from None
    return [FeedSpec(f.url, f.name, f.language, f.poll_interval_s) for f in parsed.feeds]


def read_opml(data: bytes, source: str) -> list[FeedSpec]:
    """Every outline with an http(s) `xmlUrl`, at any depth, within the stored limits: a URL
    over MAX_URL_CHARS is skipped, a longer name cut, an over-long language left out."""
    if b"<!DOCTYPE" in data[:4096].upper():
        raise ConfigError(f"{source}: OPML with a DOCTYPE is refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - no DOCTYPE, so no entity expansion
    except ET.ParseError as exc:
        raise ConfigError(f"{source}: not valid OPML: {exc}") from None
    specs = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url.startswith(("http://", "https://")) and len(url) <= MAX_URL_CHARS:
            name = truncate_or_none(
                outline.get("title") or outline.get("text"), MAX_FEED_NAME_CHARS
            )
            language = fit_or_none(outline.get("language"), MAX_LANGUAGE_CHARS)
            specs.append(FeedSpec(url=url, name=name, language=language))
    return specs


def write_opml(feeds: Sequence[FeedRecord], title: str = "monitor feeds") -> str:
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for feed in feeds:
        attributes = {"type": "rss", "text": feed.name or feed.url, "xmlUrl": feed.url}
        if feed.name:
            attributes["title"] = feed.name
        if feed.language:
            attributes["language"] = feed.language
        ET.SubElement(body, "outline", attributes)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
