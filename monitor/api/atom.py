"""Matches as an Atom 1.0 feed a feed reader can subscribe to (pure)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

ATOM = "http://www.w3.org/2005/Atom"


def iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def matches_atom(matches: Sequence[Mapping[str, Any]], self_url: str, updated: datetime) -> bytes:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}title").text = "monitor: Russia–Latin America matches"
    ET.SubElement(feed, f"{{{ATOM}}}id").text = "urn:monitor:matches"
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = iso(updated)
    ET.SubElement(feed, f"{{{ATOM}}}link", rel="self", href=self_url)
    ET.SubElement(ET.SubElement(feed, f"{{{ATOM}}}author"), f"{{{ATOM}}}name").text = "monitor"
    for match in matches:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(entry, f"{{{ATOM}}}id").text = f"urn:monitor:match:{match['id']}"
        ET.SubElement(entry, f"{{{ATOM}}}title").text = match["title"] or "(untitled)"
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = iso(match["first_seen_at"])
        ET.SubElement(entry, f"{{{ATOM}}}published").text = iso(match["published_at"])
        if match.get("url"):
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=match["url"])
        for term in [*match["countries"], *match["topics"]]:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=term)
        summary = (
            f"score {match['score']:.2f}; countries {', '.join(match['countries']) or '-'}; "
            f"topics {', '.join(match['topics']) or '-'}. {match['summary']}"
        )
        ET.SubElement(entry, f"{{{ATOM}}}summary").text = summary.strip()
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
