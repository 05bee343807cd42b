from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.langid import Py3LangidDetector, is_model_loaded
from monitor.limits import (
    GUID_DIGEST_PREFIX,
    MAX_AUTHORS_CHARS,
    MAX_FEED_NAME_CHARS,
    MAX_GUID_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
)
from monitor.loopback import item, rss
from monitor.parse import ParseOptions, parse_document
from monitor.parsers import ParserPool, explain_parse_failure

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPTIONS = ParseOptions(now=NOW, max_entries=500, future_tolerance_s=86_400)
DETECTOR = Py3LangidDetector(("en", "es", "pt", "ru"))
RUSSIAN_TITLE = "Путин встретился с Мадуро в Каракасе"
# In UTF-16 the Russian alone happens to be valid UTF-8; "ã" is not, which once sent the
# document down the single-byte repair.
MIXED_TITLE = "Ação de Lula em São Paulo e Москва"


def parse(
    body: bytes,
    headers: dict[str, str] | None = None,
    base_url: str | None = None,
    options: ParseOptions = OPTIONS,
):  # type: ignore[no-untyped-def]
    return parse_document(body, headers or {}, base_url, options, DETECTOR)


def as_json(value: object) -> object:
    return json.loads(json.dumps(dataclasses.asdict(value), default=str, ensure_ascii=False))  # type: ignore[call-overload]


class TestGolden:
    @pytest.mark.parametrize("name", ["mixed.rss"])
    def test_matches_golden_file(self, name: str) -> None:
        """tests/data/NAME parses to exactly tests/data/NAME.json."""
        parsed = parse(
            (DATA / name).read_bytes(),
            {"Content-Type": "application/rss+xml"},
            "https://news.example.org/rss.xml",
        )
        expected = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
        assert as_json(parsed) == expected


class TestEntries:
    def test_duplicate_guids_are_all_reported_to_storage(self) -> None:
        """The parser keeps repeated guids; the database stores one (tested in storage)."""
        parsed = parse(
            rss(
                [item("A one", "https://e.org/1", "same"), item("A two", "https://e.org/2", "same")]
            )
        )
        assert [e.guid for e in parsed.entries] == ["same", "same"]

    def test_missing_guid_falls_back_to_link_then_hash(self) -> None:
        """No guid: the canonical link; no link either: a stable hash of title and date."""
        body = rss([item("Linked", "https://e.org/x?utm_medium=rss"), item("Bare", None, None)])
        first, second = parse(body).entries
        assert first.guid == "https://e.org/x"
        assert second.guid.startswith("urn:monitor:")
        assert parse(body).entries[1].guid == second.guid

    def test_missing_and_future_dates_become_first_seen(self) -> None:
        """No date, or a date more than a day ahead, is replaced by the first-seen time."""
        body = rss(
            [
                item("No date", "https://e.org/1", "1", date=None),
                item("Future", "https://e.org/2", "2", date="Fri, 01 Jan 2100 00:00:00 GMT"),
                item("Soon", "https://e.org/3", "3", date="Sun, 22 Nov 2026 18:00:00 GMT"),
            ]
        )
        published = [e.published_at for e in parse(body).entries]
        assert published == [NOW, NOW, datetime(2026, 11, 22, 18, 0, tzinfo=UTC)]

    def test_javascript_link_dropped_with_reason(self) -> None:
        """An entry whose link is `javascript:` is dropped, and the reason says so."""
        parsed = parse(
            rss([item("Evil", "javascript:alert(1)", "1"), item("Good", "https://e.org/g", "2")])
        )
        assert [e.title for e in parsed.entries] == ["Good"]
        assert parsed.dropped[0].reason == "link scheme 'javascript' is not http/https"

    def test_entry_cap(self) -> None:
        """The first entries up to the cap are kept; the feed says how many were cut."""
        body = rss([item(f"Story {n}", f"https://e.org/{n}", str(n)) for n in range(5)])
        parsed = parse(body, options=dataclasses.replace(OPTIONS, max_entries=3))
        assert [e.guid for e in parsed.entries] == ["0", "1", "2"]
        assert (parsed.dropped, parsed.entries_cut) == ((), 2)

    def test_language_entry_then_feed_then_detected(self) -> None:
        """Entry language wins, then the feed's, then detection."""
        declared = rss(
            [item("Hello world", "https://e.org/1", "1")], extra="<language>pt-BR</language>"
        )
        assert parse(declared).entries[0].language == "pt"
        configured = dataclasses.replace(OPTIONS, feed_language="es")
        assert parse(declared, options=configured).entries[0].language == "es"
        detected = rss(
            [
                item(
                    "Rusia y Venezuela firman un acuerdo de cooperación militar",
                    "https://e.org/2",
                    "2",
                )
            ]
        )
        assert parse(detected).entries[0].language == "es"


class TestEntryCap:
    """A feed with more entries than the cap is cut before feedparser reads the rest."""

    def test_huge_feed_keeps_the_first_entries(self) -> None:
        """Of a 50,000-item feed the first 500 are kept in order, the rest counted as cut."""
        parsed = parse(many_items(50_000))
        assert [e.guid for e in parsed.entries] == [str(n) for n in range(500)]
        assert (len(parsed.dropped), parsed.entries_cut) == (0, 49_500)
        assert parsed.title == "Test feed"

    @pytest.mark.parametrize("document", ["rss", "atom", "rdf"])
    def test_cut_document_stays_well_formed(self, document: str) -> None:
        """The cut document is closed properly: feedparser reads it without a warning."""
        body = {"rss": many_items(20), "atom": atom_entries(20), "rdf": rdf_items(20)}[document]
        parsed = parse(body, options=dataclasses.replace(OPTIONS, max_entries=7))
        assert (len(parsed.entries), parsed.entries_cut, parsed.warning) == (7, 13, None)

    @pytest.mark.parametrize(
        ("old", "new"),
        [
            (b"<title>Story 1 ", b"<title>Story&nbsp;1 "),
            (b'encoding="utf-8"', b'encoding="shift_jis"'),
            (b'encoding="utf-8"', b'encoding="x-unknown"'),
        ],
    )
    def test_huge_feed_expat_cannot_read_is_cut_too(self, old: bytes, new: bytes) -> None:
        """A document expat refuses (an undefined entity, an encoding it lacks) is cut at the
        entry tag instead."""
        body = many_items(2_000).replace(old, new, 1)
        parsed = parse(body, options=dataclasses.replace(OPTIONS, max_entries=10))
        assert [e.guid for e in parsed.entries] == [str(n) for n in range(10)]
        assert parsed.entries_cut == 1_990

    def test_entry_tags_inside_cdata_are_not_entries(self) -> None:
        """An `<item>` written inside CDATA text does not count towards the cap."""
        summary = "<![CDATA[" + "<item>" * 10 + "]]>"
        body = rss(
            [item(f"Story {n}", f"https://e.org/{n}", str(n), summary=summary) for n in range(3)]
        )
        parsed = parse(body, options=dataclasses.replace(OPTIONS, max_entries=3))
        assert (len(parsed.entries), parsed.entries_cut) == (3, 0)


def many_items(count: int) -> bytes:
    """About 160 bytes an item: 50,000 items make an 8 MB feed."""
    return rss(
        [
            item(f"Story {n} about Russia", f"https://e.org/{n}", str(n), summary="x" * 40)
            for n in range(count)
        ]
    )


def atom_entries(count: int) -> bytes:
    entries = "".join(
        f"<entry><title>Story {n}</title><id>urn:{n}</id><link href='https://e.org/{n}'/>"
        "<updated>2026-11-02T10:00:00Z</updated></entry>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        f"<id>urn:a</id><updated>2026-11-02T10:00:00Z</updated>{entries}</feed>"
    ).encode()


def rdf_items(count: int) -> bytes:
    items = "".join(
        f'<item rdf:about="https://e.org/{n}"><title>Story {n}</title>'
        f"<link>https://e.org/{n}</link></item>"
        for n in range(count)
    )
    return (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://e.org/"><title>R</title>'
        f"<link>https://e.org/</link></channel>{items}</rdf:RDF>"
    ).encode()


class TestBounds:
    """What parse returns is bounded by monitor.limits (storage checks again)."""

    def test_control_characters_removed_from_guid_and_link(self) -> None:
        """NUL and other control characters never reach a guid or a URL."""
        body = rss([item("A", "https://e.org/a\x7fb\x08", "g\x00u\x01id\x1b")])
        entry = parse(body).entries[0]
        assert (entry.guid, entry.url) == ("guid", "https://e.org/ab")

    def test_over_long_link_drops_the_entry_with_a_reason(self) -> None:
        """A link over MAX_URL_CHARS is not cut (it would point elsewhere): the entry goes."""
        link = "https://e.org/" + "a" * (MAX_URL_CHARS - len("https://e.org/") + 1)
        parsed = parse(rss([item("Long", link, "1"), item("Short", "https://e.org/s", "2")]))
        assert [e.title for e in parsed.entries] == ["Short"]
        assert parsed.dropped[0].reason == "the link is 2,049 characters, over the limit of 2,048"

    def test_over_long_guid_becomes_a_stable_digest(self) -> None:
        """Two long guids that differ only at the end stay distinct, and each is stable."""
        guids = ["g" * MAX_GUID_CHARS + "1", "g" * MAX_GUID_CHARS + "2"]
        body = rss([item(f"T{n}", f"https://e.org/{n}", g) for n, g in enumerate(guids)])
        first, second = parse(body).entries
        assert first.guid.startswith(GUID_DIGEST_PREFIX) and len(first.guid) < MAX_GUID_CHARS
        assert first.guid != second.guid
        assert parse(body).entries[0].guid == first.guid

    def test_long_texts_cut_at_their_limits(self) -> None:
        """A 5 MB title, a long summary, authors and channel title are cut at their limits."""
        authors = "".join(f"<author>writer{n}@e.org (Writer {n})</author>" for n in range(300))
        body = rss(
            [item("T" * 5_000_000, "https://e.org/1", "1", summary="s " * MAX_SUMMARY_CHARS)]
        ).replace(b"</item>", authors.encode() + b"</item>")
        body = body.replace(b"<title>Test feed</title>", b"<title>" + b"c" * 600 + b"</title>")
        parsed = parse(body)
        entry = parsed.entries[0]
        assert len(entry.title) == MAX_TITLE_CHARS and entry.title.endswith("…")
        assert len(entry.summary) <= MAX_SUMMARY_CHARS and entry.summary.endswith("…")
        assert 0 < len(", ".join(entry.authors)) <= MAX_AUTHORS_CHARS
        assert parsed.title is not None and len(parsed.title) == MAX_FEED_NAME_CHARS


class TestCharsets:
    @pytest.mark.parametrize(
        ("encoding", "http_charset", "declared"),
        [
            ("koi8-r", "utf-8", "koi8-r"),
            ("windows-1251", "iso-8859-1", "windows-1251"),
            ("koi8-r", None, "windows-1251"),
            ("windows-1251", "koi8-r", None),
            ("utf-8", "windows-1251", "utf-8"),
            ("utf-8", None, "windows-1252"),
        ],
    )
    def test_mislabelled_charsets_decode_correctly(
        self, encoding: str, http_charset: str | None, declared: str | None
    ) -> None:
        """Russian text survives a wrong HTTP charset or a wrong XML declaration."""
        prolog = (
            f'<?xml version="1.0" encoding="{declared}"?>' if declared else '<?xml version="1.0"?>'
        )
        body = (
            prolog + f'<rss version="2.0"><channel><title>t</title><item><title>{RUSSIAN_TITLE}'
            "</title><guid>1</guid></item></channel></rss>"
        ).encode(encoding)
        headers = {
            "Content-Type": "text/xml" + (f"; charset={http_charset}" if http_charset else "")
        }
        assert parse(body, headers).entries[0].title == RUSSIAN_TITLE

    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
    @pytest.mark.parametrize("declared", ["utf-16", None])
    @pytest.mark.parametrize("http_charset", [None, "windows-1251"])
    def test_wide_unicode_without_a_byte_order_mark(
        self, encoding: str, declared: str | None, http_charset: str | None
    ) -> None:
        """UTF-16/32 without a BOM is known by its zero bytes, not "repaired" to KOI8-R."""
        prolog = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
        body = (
            prolog + f'<rss version="2.0"><channel><title>{MIXED_TITLE}</title><item><title>'
            f"{MIXED_TITLE}</title><guid>1</guid></item></channel></rss>"
        ).encode(encoding)
        headers = {"Content-Type": f"text/xml; charset={http_charset}"} if http_charset else {}
        parsed = parse(body, headers)
        assert (parsed.title, parsed.entries[0].title) == (MIXED_TITLE, MIXED_TITLE)

    @pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
    def test_wide_unicode_with_a_byte_order_mark(self, encoding: str) -> None:
        """UTF-16/32 with a BOM still reads (it is handed on as UTF-8)."""
        body = rss([item(RUSSIAN_TITLE, "https://e.org/1", "1")]).decode().encode(encoding)
        assert parse(body).entries[0].title == RUSSIAN_TITLE

    def test_correct_latin1_left_alone(self) -> None:
        """Genuine ISO-8859-1 Portuguese is not 'repaired'."""
        title = "Ação de Lula em São Paulo"
        body = (
            f'<?xml version="1.0" encoding="iso-8859-1"?><rss version="2.0"><channel><title>t</title>'
            f"<item><title>{title}</title><guid>1</guid></item></channel></rss>"
        ).encode("latin-1")
        assert parse(body).entries[0].title == title


class TestHostileDocuments:
    def test_billion_laughs_not_expanded(self) -> None:
        """Nested entity definitions do not explode memory or text."""
        lol = "".join(
            f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10)
        )
        body = (
            f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY lol0 "lol">{lol}]>'
            '<rss version="2.0"><channel><title>t</title><item><title>&lol9;</title>'
            "<guid>1</guid><description>x</description></item></channel></rss>"
        ).encode()
        parsed = parse(body)
        assert all(len(e.title) < 1000 for e in parsed.entries)

    def test_external_entity_not_resolved(self) -> None:
        """An external entity pointing at a local file does not leak its contents."""
        body = (
            b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<rss version="2.0"><channel><title>t</title><item><title>a &xxe; b</title>'
            b"<guid>1</guid></item></channel></rss>"
        )
        parsed = parse(body)
        assert not any("root:" in e.title + e.summary for e in parsed.entries)

    @pytest.mark.parametrize(
        ("body", "reason"),
        [
            (b"", "empty document"),
            (
                b"<!DOCTYPE html><html><head><title>Hi</title></head><body>Welcome</body></html>",
                "an HTML page, not a feed",
            ),
            (b"\x00\x01\x02 binary junk", "not a feed"),
        ],
    )
    def test_non_feeds_raise_parse_error(self, body: bytes, reason: str) -> None:
        """Empty bodies, HTML pages and junk raise ParseError with a reason."""
        with pytest.raises(ParseError, match=reason):
            parse(body)


class TestParserPool:
    def test_parses_in_a_worker_process(self) -> None:
        """The pool returns the same value as the pure function."""
        body = rss([item("Russia and Brazil sign a new trade agreement", "https://e.org/p", "p")])
        with ParserPool(ParseSettings(workers=1)) as pool:
            result = pool.submit(body, {}, None, OPTIONS).result()
        assert result == parse_document(body, {}, None, OPTIONS, pool.detector)
        assert result.entries[0].language == "en"

    def test_huge_feed_kept_within_the_budget(self) -> None:
        """A 50,000-item (8 MB) feed no longer runs out of budget: its first entries are kept."""
        body = many_items(50_000)
        assert len(body) > 8_000_000
        with ParserPool(ParseSettings(workers=1)) as pool:
            parsed = pool.submit(body, {}, None, pool.options(NOW, None)).result()
        assert (len(parsed.entries), parsed.entries_cut) == (500, 49_500)

    def test_time_budget_enforced(self) -> None:
        """A document over the budget is cut off and explained, and the pool stays usable."""
        huge = rss(
            [item(f"Story number {n} " * 20, f"https://e.org/{n}", str(n)) for n in range(20_000)]
        )
        settings = ParseSettings(workers=1, time_budget_s=0.2, max_entries_per_feed=100_000)
        with ParserPool(settings) as pool:
            options = pool.options(NOW, None)
            with pytest.raises(Exception) as caught:
                pool.submit(huge, {}, None, options).result()
            assert "budget of 0.2 s" in str(explain_parse_failure(caught.value, 0.2))
            # Declared, so the fresh worker need not load the language model within 0.2 s.
            small = rss([item("After", "https://e.org/a", "a")], extra="<language>en</language>")
            assert pool.submit(small, {}, None, options).result().entries[0].title == "After"


class CountingDetector:
    """A language detector that answers one language and counts its calls."""

    def __init__(self, language: str | None) -> None:
        self.language = language
        self.texts: list[str] = []

    def __call__(self, text: str) -> str | None:
        self.texts.append(text)
        return self.language


SPANISH_FEED = rss(
    [
        item(f"Rusia y Venezuela firman el acuerdo número {n}", f"https://e.org/{n}", str(n))
        for n in range(3)
    ]
)


class TestLanguageDetectionCost:
    def test_language_detected_once_per_feed(self) -> None:
        """A feed that declares no language costs one detection, whose answer every entry gets."""
        detector = CountingDetector("es")
        parsed = parse_document(SPANISH_FEED, {}, None, OPTIONS, detector)
        assert [e.language for e in parsed.entries] == ["es", "es", "es"]
        assert len(detector.texts) == 1
        assert "número 0" in detector.texts[0] and "número 2" in detector.texts[0]

    def test_no_detection_when_the_feed_language_is_configured_or_declared(self) -> None:
        """A configured or declared feed language means the detector is never called."""
        detector = CountingDetector("en")
        configured = dataclasses.replace(OPTIONS, feed_language="es")
        declared = rss([item("Hola", "https://e.org/1", "1")], extra="<language>es</language>")
        parse_document(SPANISH_FEED, {}, None, configured, detector)
        parse_document(declared, {}, None, OPTIONS, detector)
        assert detector.texts == []

    def test_entries_declaring_a_language_keep_it(self) -> None:
        """Detection fills in only the entries without a language of their own."""
        body = (
            b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            b'<entry xml:lang="pt"><id>1</id><title>Lula em Moscou</title></entry>'
            b"<entry><id>2</id><title>Lula en Moscu</title></entry></feed>"
        )
        parsed = parse_document(body, {}, None, OPTIONS, CountingDetector("es"))
        assert [e.language for e in parsed.entries] == ["pt", "es"]

    def test_model_loaded_only_in_a_worker_that_detects(self) -> None:
        """A parser worker holds no language model until a document needs detection."""
        declared = rss([item("Hello", "https://e.org/1", "1")], extra="<language>en</language>")
        with ParserPool(ParseSettings(workers=1)) as pool:
            pool.submit(declared, {}, None, OPTIONS).result()
            before = pool.pool.schedule(is_model_loaded).result()
            detected = pool.submit(SPANISH_FEED, {}, None, OPTIONS).result()
            after = pool.pool.schedule(is_model_loaded).result()
        assert (before, after) == (False, True)
        assert detected.entries[0].language == "es"


class TestMarkupWithoutSanitiser:
    def test_summary_keeps_no_markup_and_no_script_style_or_applet_text(self) -> None:
        """With feedparser's sanitiser off, a summary is still plain text without the content
        of script, style or applet elements (nor comments)."""
        markup = (
            "<![CDATA[<p>Lula <b>meets</b> Putin</p><script>alert('x')</script>"
            "<style>p{color:red}</style><applet>applet text</applet><!-- hidden -->"
            '<img src="x" onerror="alert(1)"><iframe src="https://evil.example/">in frame</iframe>'
            "<svg><script>svg()</script></svg>]]>"
        )
        body = rss([item("Title", "https://e.org/1", "1", summary=markup)])
        summary = parse(body).entries[0].summary
        assert summary == "Lula meets Putin in frame"
