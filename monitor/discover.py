"""Feed discovery: the feeds an HTML page names in `<link rel="alternate">` tags. Pure: it takes
the page's bytes and URL and returns values; fetching the page is the caller's business."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from monitor.limits import MAX_FEED_NAME_CHARS, MAX_URL_CHARS, truncate_or_none
from monitor.values import FeedSpec

# Feed links sit in <head>: a page's first 512 KiB is plenty, and bounds the parser's work.
MAX_DISCOVERY_BYTES = 512 * 1024
MAX_DISCOVERED_FEEDS = 20
FEED_MEDIA_TYPES = frozenset({"application/rss+xml", "application/atom+xml"})
FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:rdf)[\s>]", re.IGNORECASE)
HTML_ROOT = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)[\s>]", re.IGNORECASE | re.DOTALL
)
HTML_MEDIA_TYPES = ("text/html", "application/xhtml+xml")
SNIFF_BYTES = 4096


def is_html_page(body: bytes, content_type: str | None) -> bool:
    """An HTML page rather than a feed: labelled or shaped as HTML, with no feed root early on
    (a feed mislabelled text/html is still a feed)."""
    head = body[:SNIFF_BYTES].lstrip(b"\xef\xbb\xbf")
    if FEED_ROOT.search(head):
        return False
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type in HTML_MEDIA_TYPES or bool(HTML_ROOT.match(head))


def discover_feeds(body: bytes, page_url: str) -> list[FeedSpec]:
    """The feeds the page's `<link rel="alternate" type="application/rss+xml|atom+xml">` tags
    name, resolved against the page URL (or its `<base href>`), http(s) only, each URL once, in
    document order, at most MAX_DISCOVERED_FEEDS; the link's title becomes the feed's name.
    URLs and titles keep to the stored limits (an over-long URL is skipped, a title cut)."""
    finder = FeedLinkFinder(page_url)
    finder.feed(body[:MAX_DISCOVERY_BYTES].decode("utf-8", errors="replace"))
    finder.close()
    return finder.found


class FeedLinkFinder(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = page_url
        self.found: list[FeedSpec] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "").strip() for name, value in attrs}
        if tag == "base" and values.get("href"):
            self.base_url = urljoin(self.base_url, values["href"])
        elif tag == "link" and is_feed_link(values):
            self.keep(urljoin(self.base_url, values["href"]), values.get("title") or None)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def keep(self, url: str, title: str | None) -> None:
        if urlsplit(url).scheme not in ("http", "https") or len(url) > MAX_URL_CHARS:
            return
        if url not in self.seen and len(self.found) < MAX_DISCOVERED_FEEDS:
            self.seen.add(url)
            self.found.append(FeedSpec(url=url, name=truncate_or_none(title, MAX_FEED_NAME_CHARS)))


def is_feed_link(attributes: dict[str, str]) -> bool:
    relations = attributes.get("rel", "").lower().split()
    media_type = attributes.get("type", "").split(";", 1)[0].strip().lower()
    return (
        "alternate" in relations and media_type in FEED_MEDIA_TYPES and bool(attributes.get("href"))
    )
