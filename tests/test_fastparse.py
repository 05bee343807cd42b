"""The in-process lxml reader (monitor.fastparse) against feedparser: the same ParsedFeed for
every document it accepts, a fallback for every one it does not mirror, and every protection
(no entity expansion, no DTD, no network, the time budget, the entry cap) kept."""

from __future__ import annotations

import asyncio
import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.fastparse import UnusualDocumentError, fast_parse
from monitor.langid import Py3LangidDetector
from monitor.loopback import item, rss
from monitor.parse import ParseOptions, parse_document, parse_document_fast
from monitor.parsers import ParserPool, explain_parse_failure
from monitor.values import ParsedFeed
from tests.conftest import REPORTED_TOTALS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW, max_entries=500, future_tolerance_s=86_400)
DETECTOR = Py3LangidDetector(("en", "es", "pt", "ru"))
BASE = "https://news.example.org/section/feed.xml"
ATOM_HEAD = '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
RSS_NAMESPACES = (
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    ' xmlns:media="http://search.yahoo.com/mrss/"'
)


def rss_with(items: str, channel: str = "<title>Feed</title>", root_attrs: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"{RSS_NAMESPACES}{root_attrs}>'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


# Documents the fast reader accepts; each must give what feedparser gives.
ACCEPTED = {
    "plain items": rss([item(f"Title {n}", f"https://x.example/{n}", f"g{n}") for n in range(5)]),
    "guid is the link": rss_with("<item><title>A</title><guid>/a/relative</guid></item>"),
    "double-escaped query in a link": rss_with(
        "<item><title>A</title><link>https://n.example/a?id=7&amp;amp;lang=es&amp;b;</link></item>"
    ),
    "guid not a link": rss_with(
        '<item><title>A</title><guid isPermaLink="false">tag:1</guid></item>'
    ),
    "link after guid": rss_with(
        "<item><guid>https://x.example/g</guid><link>https://x.example/l</link></item>"
    ),
    "relative link": rss_with("<item><title>A</title><link>../story?a=1&amp;b=2</link></item>"),
    "empty link": rss_with("<item><title>A</title><link></link></item>"),
    "content before description": rss_with(
        "<item><title>A</title><content:encoded>&lt;p&gt;Full text&lt;/p&gt;</content:encoded>"
        "<description>Short</description></item>"
    ),
    "description before content": rss_with(
        "<item><title>A</title><description>Short</description>"
        "<content:encoded>Full</content:encoded></item>"
    ),
    "content only": rss_with("<item><content:encoded>Only the full text</content:encoded></item>"),
    "authors": rss_with(
        "<item><title>A</title><author>jo@x.example (Jo Writer)</author>"
        "<dc:creator>Ann</dc:creator><dc:creator>Ann</dc:creator></item>"
        "<item><title>B</title><author>only@x.example</author></item>"
    ),
    "dates": rss_with(
        "<item><title>A</title><dc:date>2026-11-20T10:00:00+02:00</dc:date></item>"
        "<item><title>B</title><pubDate>not a date</pubDate></item>"
        "<item><title>C</title><pubDate>Fri, 20 Nov 2099 10:00:00 GMT</pubDate></item>"
    ),
    "languages": rss_with(
        '<item xml:lang="es"><title>Uno</title></item>'
        '<item><title xml:lang="pt_BR">Dois</title><description xml:lang="">x</description></item>'
        "<item><title>Three</title></item>",
        channel="<title>Feed</title><language>ru</language>",
        root_attrs=' xml:lang="en"',
    ),
    "upper-case elements": rss_with(
        "<item><TITLE>Big</TITLE><PubDate>Mon, 02 Nov 2026 10:00:00 GMT</PubDate></item>",
        channel="<TITLE>Loud feed</TITLE><TTL>30</TTL>",
    ),
    "windows-1252 controls and re-encoded UTF-8": rss_with(
        "<item><title>don&#146;t</title><description>Martine Ã©crit</description></item>"
    ),
    "media without titles": rss_with(
        '<item><title>A</title><media:content url="https://x.example/a.jpg"/>'
        '<media:group><media:thumbnail url="https://x.example/t.jpg"/></media:group></item>'
    ),
    "atom": (
        ATOM_HEAD + '<title type="html">Feed &amp;lt;b&amp;gt;</title>'
        '<entry xml:lang="pt"><title>Um</title><id>urn:uuid:1</id>'
        '<link rel="alternate" href="https://x.example/1"/><link rel="self" href="/self"/>'
        "<updated>2026-11-20T10:00:00Z</updated><summary>Resumo</summary>"
        "<author><name>Ana</name><email>ana@x.example</email></author></entry>"
        '<entry><title>Two</title><id>relative-id</id><content type="html">&lt;p&gt;Body'
        "&lt;/p&gt;</content><published>2026-11-19T10:00:00Z</published>"
        "<author><email>only@x.example</email></author></entry></feed>"
    ).encode(),
    "UTF-16": rss([item("Путин и Лула", "https://x.example/ru")])
    .decode()
    .replace('encoding="utf-8"', 'encoding="utf-16"')
    .encode("utf-16"),
    "over the cap": rss([item(f"T{n}", f"https://x.example/{n}") for n in range(30)]),
}

# Documents the fast reader hands to feedparser.
UNUSUAL = {
    "DOCTYPE with an external entity": (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><title>&x;</title></channel></rss>'
    ),
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<rss version="2.0"><channel><item><title>&b;&b;</title></item></channel></rss>'
    ),
    "not well-formed": b'<rss version="2.0"><channel><item><title>A</item></channel></rss>',
    "tens of thousands of elements inside one channel element (held whole until it ends)": (
        b'<rss version="2.0"><channel><title>T</title><foo>' + b"<x/>" * 20_000 + b"</foo>"
        b"<item><title>A</title></item></channel></rss>"
    ),
    "tens of thousands of elements inside one Atom entry": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>A</title>'
        b"<foo>" + b"<x/>" * 20_000 + b"</foo></entry></feed>"
    ),
    "RSS 1.0": (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        b' xmlns="http://purl.org/rss/1.0/"><item><title>A</title></item></rdf:RDF>'
    ),
    "xml:base": rss_with('<item xml:base="https://other.example/"><link>a</link></item>'),
    "media:title": rss_with("<item><title>A</title><media:title>B</media:title></item>"),
    "markup inside a title": rss_with("<item><title>A <b>bold</b></title></item>"),
    "unknown item element": rss_with("<item><title>A</title><summary>B</summary></item>"),
    "an entry outside the items": rss_with("<item><title>A</title></item><entry>B</entry>"),
    "legacy bytes": rss_with("<item><title>Ação</title></item>")
    .replace(b"utf-8", b"iso-8859-1")
    .decode()
    .encode("iso-8859-1"),
    "an HTML page": b"<!doctype html><html><body>Not a feed</body></html>",
    # html.parser takes quadratic time on tags that never end: left to a killable worker.
    "a summary of tags that do not end": rss_with(
        "<item><title>A</title><description>" + "&lt;a " * 5_000 + "</description></item>"
    ),
}


def feedparser_result(body: bytes, base_url: str | None = BASE) -> ParsedFeed:
    return parse_document(body, {}, base_url, OPTIONS, DETECTOR)


def fast_result(body: bytes, base_url: str | None = BASE) -> ParsedFeed:
    return parse_document_fast(body, {}, base_url, OPTIONS, DETECTOR)


def same_values(fast: ParsedFeed, slow: ParsedFeed) -> list[str]:
    """What differs, field by field (the warning aside: only feedparser has one)."""
    differences = [
        f"{name}: {getattr(fast, name)!r} != {getattr(slow, name)!r}"
        for name in ("title", "language", "version", "ttl_minutes", "entries_cut", "dropped")
        if getattr(fast, name) != getattr(slow, name)
    ]
    if fast.entries != slow.entries:
        differences.append(f"entries: {fast.entries!r} != {slow.entries!r}")
    return differences


@pytest.mark.unit
class TestSameAsFeedparser:
    @pytest.mark.parametrize("name", sorted(ACCEPTED))
    @pytest.mark.parametrize("base_url", [BASE, None])
    def test_accepted_document_parses_as_feedparser_does(
        self, name: str, base_url: str | None
    ) -> None:
        body = ACCEPTED[name]
        options = OPTIONS if name != "over the cap" else ParseOptions(NOW, 20, 86_400)
        fast = parse_document_fast(body, {}, base_url, options, DETECTOR)
        slow = parse_document(body, {}, base_url, options, DETECTOR)
        assert fast.entries or fast.dropped
        assert same_values(fast, slow) == []

    def test_cap_cuts_the_same_entries(self) -> None:
        parsed = parse_document_fast(
            ACCEPTED["over the cap"], {}, None, ParseOptions(NOW, 20, 86_400), DETECTOR
        )
        assert (len(parsed.entries), parsed.entries_cut) == (20, 10)

    def test_response_headers_count_as_feedparser_counts_them(self) -> None:
        headers = {"Content-Type": "text/xml", "Content-Language": "es-AR"}
        body = rss([item("Sin idioma declarado", "https://x.example/1")])
        fast = parse_document_fast(body, headers, BASE, OPTIONS, DETECTOR)
        slow = parse_document(body, headers, BASE, OPTIONS, DETECTOR)
        assert same_values(fast, slow) == []
        assert fast.entries[0].language == "es"

    @pytest.mark.parametrize("name", sorted(UNUSUAL))
    def test_unusual_document_is_left_to_feedparser(self, name: str) -> None:
        with pytest.raises(UnusualDocumentError):
            fast_result(UNUSUAL[name])


@pytest.mark.unit
class TestProtections:
    def test_no_entity_is_expanded_and_nothing_is_read(self) -> None:
        """The external entity never reaches the reader: the DOCTYPE sends it to feedparser,
        which does not resolve it either."""
        body = UNUSUAL["DOCTYPE with an external entity"]
        with pytest.raises(UnusualDocumentError, match="DOCTYPE"):
            fast_parse(body, {})
        parsed = feedparser_result(body)
        assert "root:" not in (parsed.title or "")

    def test_budget_check_stops_a_long_document(self) -> None:
        body = rss([item(f"T{n}", f"https://x.example/{n}") for n in range(400)])
        calls = Counter[str]()

        def over_budget() -> None:
            calls["checks"] += 1
            if calls["checks"] > 2:
                raise TimeoutError("over")

        with pytest.raises(TimeoutError):
            parse_document_fast(body, {}, None, OPTIONS, DETECTOR, over_budget)
        assert calls["checks"] == 3

    def test_pool_reports_the_budget_and_starts_no_process(self) -> None:
        body = rss([item(f"T{n} " * 50, f"https://x.example/{n}") for n in range(500)])

        async def run() -> BaseException | None:
            with ParserPool(ParseSettings(workers=1, time_budget_s=0.000_001)) as pool:
                try:
                    await pool.parse(body, {}, None, OPTIONS)
                except Exception as exc:
                    return explain_parse_failure(exc, 0.000_001)
                finally:
                    assert pool.process_pool is None
            return None

        error = asyncio.run(run())
        assert isinstance(error, ParseError)
        assert "budget" in str(error)


@pytest.mark.integration
class TestPool:
    def test_plain_feed_is_parsed_in_process(self) -> None:
        body = ACCEPTED["plain items"]

        async def run() -> tuple[ParsedFeed, bool]:
            with ParserPool(ParseSettings(workers=1)) as pool:
                parsed = await pool.parse(body, {}, BASE, OPTIONS)
                return parsed, pool.process_pool is None

        parsed, no_process = asyncio.run(run())
        assert no_process
        assert [e.title for e in parsed.entries] == [f"Title {n}" for n in range(5)]

    def test_unusual_feed_goes_to_a_worker_process(self) -> None:
        body = UNUSUAL["RSS 1.0"]

        async def run() -> tuple[ParsedFeed, bool]:
            with ParserPool(ParseSettings(workers=1)) as pool:
                parsed = await pool.parse(body, {}, BASE, OPTIONS)
                return parsed, pool.process_pool is not None

        parsed, started = asyncio.run(run())
        assert started
        assert [e.title for e in parsed.entries] == ["A"]


class SteppingClock:
    """A monotonic clock that moves `step` seconds each time it is read, or when told."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


class SpyPool(ParserPool):
    """The real pool, remembering the time left each worker parse was given."""

    def __init__(self, settings: ParseSettings, clock: SteppingClock) -> None:
        super().__init__(settings, clock)
        self.timeouts: list[float | None] = []

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.timeouts.append(args[4] if len(args) > 4 else kwargs.get("timeout_s"))
        return super().submit(*args, **kwargs)


@pytest.mark.integration
class TestOneBudget:
    """The fast reader's time counts against the same per-feed budget as the worker's."""

    def test_time_the_fast_reader_spent_is_charged_to_the_worker(self) -> None:
        clock = SteppingClock(step=1.0)

        async def run() -> tuple[ParsedFeed, list[float | None]]:
            with SpyPool(ParseSettings(workers=1, time_budget_s=60), clock) as pool:
                parsed = await pool.parse(UNUSUAL["RSS 1.0"], {}, BASE, OPTIONS)
                return parsed, pool.timeouts

        parsed, timeouts = asyncio.run(run())
        assert [e.title for e in parsed.entries] == ["A"]
        # Started at 0 (deadline 60); the clock read last, when handing over, said `now - 1`.
        assert timeouts == [pytest.approx(60 - (clock.now - 1.0))]
        assert timeouts[0] is not None and timeouts[0] < 60

    def test_a_hand_over_past_the_budget_starts_no_worker(self) -> None:
        clock = SteppingClock(step=100.0)

        async def run() -> tuple[BaseException | None, bool]:
            with ParserPool(ParseSettings(workers=1, time_budget_s=60), clock) as pool:
                try:
                    await pool.parse(UNUSUAL["RSS 1.0"], {}, BASE, OPTIONS)
                except Exception as exc:
                    return explain_parse_failure(exc, 60), pool.process_pool is None
            return None, pool.process_pool is None

        error, no_process = asyncio.run(run())
        assert isinstance(error, ParseError) and "budget of 60 s" in str(error)
        assert no_process

    @pytest.mark.parametrize("detection_s", [0.0, 100.0])
    def test_detection_after_the_last_check_is_charged(self, detection_s: float) -> None:
        """Language detection runs after the last entry's check; a slow one is over budget."""
        clock = SteppingClock()
        body = rss([item(f"Título {n} de la noticia", f"https://x.example/{n}") for n in range(3)])

        def slow_detector(_text: str) -> str | None:
            clock.now += detection_s
            return "es"

        async def run() -> ParsedFeed:
            with ParserPool(ParseSettings(workers=1, time_budget_s=60), clock) as pool:
                pool.detector = slow_detector  # type: ignore[assignment]
                return await pool.parse(body, {}, BASE, OPTIONS)

        if detection_s < 60:
            assert {e.language for e in asyncio.run(run()).entries} == {"es"}
        else:
            with pytest.raises(TimeoutError):
                asyncio.run(run())


@pytest.mark.slow
@pytest.mark.corpus
def test_corpus_reads_as_feedparser_reads(shared_dir: Path) -> None:
    """Every corpus file the fast reader accepts gives exactly feedparser's values (with and
    without a base URL); the fast reader accepts a good share of the real-world files."""
    corpus = shared_dir / "corpus" / "feeds"
    with (corpus / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    totals: Counter[str] = Counter()
    differences: list[str] = []
    for row in rows:
        body = (corpus / row["path"]).read_bytes()
        for base_url in (None, BASE):
            try:
                fast = fast_result(body, base_url)
            except UnusualDocumentError:
                totals["fallback"] += base_url is None
                continue
            totals["fast"] += base_url is None
            totals["fast_realworld"] += base_url is None and row["path"].startswith("realworld/")
            slow = feedparser_result(body, base_url)
            differences += [f"{row['path']} ({base_url}): {d}" for d in same_values(fast, slow)]
    REPORTED_TOTALS["fast reader on the corpus"] = dict(totals)
    assert differences == []
    assert totals["fast_realworld"] >= 100
