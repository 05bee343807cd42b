"""Feed discovery in HTML pages (pure)."""

from __future__ import annotations

from monitor.discover import MAX_DISCOVERED_FEEDS, MAX_DISCOVERY_BYTES, discover_feeds, is_html_page
from monitor.limits import MAX_FEED_NAME_CHARS, MAX_URL_CHARS
from monitor.loopback import item, rss
from monitor.values import FeedSpec

PAGE = "https://news.example/section/world.html"


def page(head: str) -> bytes:
    return f"<!DOCTYPE html><html><head>{head}</head><body><p>text</p></body></html>".encode()


class TestDiscoverFeeds:
    def test_rss_and_atom_links_resolved_against_the_page(self) -> None:
        """RSS and Atom alternate links are found, resolved against the page URL, with titles."""
        body = page(
            '<link rel="alternate" type="application/rss+xml" title="World" href="/rss/world">'
            '<link rel="stylesheet" href="/s.css">'
            '<LINK REL="Alternate feed" TYPE="application/atom+xml; charset=utf-8" '
            'HREF="atom.xml"/>'
        )
        assert discover_feeds(body, PAGE) == [
            FeedSpec("https://news.example/rss/world", "World"),
            FeedSpec("https://news.example/section/atom.xml", None),
        ]

    def test_other_links_ignored(self) -> None:
        """Alternate links of other types, feeds without rel=alternate, non-http and empty hrefs
        are not feeds."""
        body = page(
            '<link rel="alternate" hreflang="es" type="text/html" href="/es/">'
            '<link rel="feed" type="application/rss+xml" href="/not-alternate">'
            '<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">'
            '<link rel="alternate" type="application/rss+xml" href="">'
            '<a rel="alternate" type="application/rss+xml" href="/anchor">x</a>'
        )
        assert discover_feeds(body, PAGE) == []

    def test_base_href_and_duplicates(self) -> None:
        """`<base href>` changes what relative links resolve against; a URL named twice is
        offered once."""
        body = page(
            '<base href="https://cdn.example/feeds/">'
            '<link rel="alternate" type="application/rss+xml" href="all.xml">'
            '<link rel="alternate" type="application/rss+xml" href="https://cdn.example/feeds/all.xml">'
        )
        assert discover_feeds(body, PAGE) == [FeedSpec("https://cdn.example/feeds/all.xml")]

    def test_input_and_output_are_bounded(self) -> None:
        """Links past MAX_DISCOVERY_BYTES are not read, and at most MAX_DISCOVERED_FEEDS are
        returned."""
        many = "".join(
            f'<link rel="alternate" type="application/rss+xml" href="/f{n}">' for n in range(50)
        )
        assert len(discover_feeds(page(many), PAGE)) == MAX_DISCOVERED_FEEDS
        late = b" " * MAX_DISCOVERY_BYTES + page(
            '<link rel="alternate" type="application/rss+xml" href="/late">'
        )
        assert discover_feeds(late, PAGE) == []

    def test_stored_limits(self) -> None:
        """A URL over MAX_URL_CHARS is skipped and a title over MAX_FEED_NAME_CHARS cut."""
        long_href = "/" + "a" * MAX_URL_CHARS
        body = page(
            f'<link rel="alternate" type="application/rss+xml" href="{long_href}">'
            f'<link rel="alternate" type="application/rss+xml" title="{"t" * 900}" href="/ok">'
        )
        [found] = discover_feeds(body, PAGE)
        assert found.url == "https://news.example/ok"
        assert found.name is not None and len(found.name) == MAX_FEED_NAME_CHARS

    def test_broken_markup_does_not_raise(self) -> None:
        """Unclosed tags and stray bytes still yield the links before them."""
        body = b"<html><head><link rel=alternate type=application/rss+xml href=/f>\xff<div <p"
        assert discover_feeds(body, PAGE) == [FeedSpec("https://news.example/f")]


class TestIsHtmlPage:
    def test_html_by_type_or_shape(self) -> None:
        """A page labelled text/html, or one starting with a doctype, is HTML."""
        assert is_html_page(b"<p>hello</p>", "text/html; charset=utf-8")
        assert is_html_page(b"\n<!-- x -->\n<!doctype HTML><html>", None)
        assert is_html_page(b"<html lang='es'><head>", "application/octet-stream")

    def test_feeds_are_not_html(self) -> None:
        """A feed is not HTML, even when the server labels it text/html."""
        assert not is_html_page(rss([item("a", "https://e.org/1", "1")]), "text/html")
        assert not is_html_page(b'<?xml version="1.0"?><feed xmlns="x">', None)
        assert not is_html_page(b"{}", "application/feed+json")
