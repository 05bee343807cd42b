from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.loopback import item, rss
from monitor.parse import ParseOptions, ParserPool, explain_parse_failure, parse_document

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
OPTIONS = ParseOptions(
    now=NOW, max_entries=500, future_tolerance_s=86_400, detect_languages=("en", "es", "pt", "ru")
)
RUSSIAN_TITLE = "Путин встретился с Мадуро в Каракасе"


def parse(
    body: bytes,
    headers: dict[str, str] | None = None,
    base_url: str | None = None,
    options: ParseOptions = OPTIONS,
):  # type: ignore[no-untyped-def]
    return parse_document(body, headers or {}, base_url, options)


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
        """Entries past the cap are dropped with the cap as the reason."""
        body = rss([item(f"Story {n}", f"https://e.org/{n}", str(n)) for n in range(5)])
        parsed = parse(body, options=dataclasses.replace(OPTIONS, max_entries=3))
        assert len(parsed.entries) == 3
        assert [d.reason for d in parsed.dropped] == ["over the cap of 3 entries"] * 2

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
        body = rss([item("Pool", "https://e.org/p", "p")])
        with ParserPool(ParseSettings(workers=1)) as pool:
            result = pool.submit(body, {}, None, OPTIONS).result()
        assert result == parse(body)

    def test_time_budget_enforced(self) -> None:
        """A document over the budget is cut off and explained, and the pool stays usable."""
        huge = rss(
            [item(f"Story number {n} " * 20, f"https://e.org/{n}", str(n)) for n in range(20_000)]
        )
        with ParserPool(ParseSettings(workers=1, time_budget_s=0.2)) as pool:
            options = pool.options(NOW, None)
            with pytest.raises(Exception) as caught:
                pool.submit(huge, {}, None, options).result()
            assert "budget of 0.2 s" in str(explain_parse_failure(caught.value, 0.2))
            small = rss([item("After", "https://e.org/a", "a")])
            assert pool.submit(small, {}, None, options).result().entries[0].title == "After"
