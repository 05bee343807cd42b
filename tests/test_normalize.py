from __future__ import annotations

import pytest

from monitor.normalize import (
    UnsafeLinkError,
    canonical_url,
    content_fingerprint,
    fold_text,
    plain_text,
    primary_language,
)


class TestCanonicalUrl:
    @pytest.mark.parametrize(
        ("link", "expected"),
        [
            ("HTTPS://News.Example.COM/a/b?id=3#frag", "https://news.example.com/a/b?id=3"),
            ("http://example.com:80/x", "http://example.com/x"),
            ("https://example.com:8443/x", "https://example.com:8443/x"),
            ("https://example.com", "https://example.com/"),
            (
                "https://e.com/p?utm_source=tw&id=1&fbclid=abc&gclid=z&UTM_Medium=m",
                "https://e.com/p?id=1",
            ),
            ("  https://e.com/p\n", "https://e.com/p"),
            ("ftp://e.com/file", None),
            ("mailto:desk@e.com", None),
            ("", None),
            (None, None),
        ],
    )
    def test_normalises(self, link: str | None, expected: str | None) -> None:
        """Host lower-cased, default port, fragment and tracking parameters removed."""
        assert canonical_url(link) == expected

    def test_control_characters_removed(self) -> None:
        """DEL and C1 control characters never reach a stored URL (C0 ones never did)."""
        assert canonical_url("https://e.org/a\x7fb\x85c\x00d") == "https://e.org/abcd"

    def test_relative_link_resolved_against_feed(self) -> None:
        """A relative link is resolved against the feed's URL."""
        assert canonical_url("/news/1?utm_campaign=x", "https://site.org/rss/feed.xml") == (
            "https://site.org/news/1"
        )

    def test_relative_link_without_http_base_is_unusable(self) -> None:
        """Without an http(s) base a relative link cannot become a canonical URL."""
        assert canonical_url("/news/1", None) is None

    @pytest.mark.parametrize(
        "link",
        [
            "javascript:alert(1)",
            " JavaScript:void(0)",
            "data:text/html,x",
            "vbscript:x",
            "java\tscript:alert(1)",
        ],
    )
    def test_unsafe_schemes_refused(self, link: str) -> None:
        """Script-bearing links raise, so the entry is dropped with a reason."""
        with pytest.raises(UnsafeLinkError):
            canonical_url(link, "https://site.org/")


class TestPlainText:
    def test_strips_html_and_decodes_entities(self) -> None:
        """Tags go, entities are decoded, whitespace collapses, scripts vanish."""
        markup = (
            "<p>Putin &amp; Maduro</p><script>alert(1)</script>\n\n<b>sign</b>&nbsp;deal &#8212; ok"
        )
        assert plain_text(markup) == "Putin & Maduro sign deal — ok"

    def test_plain_text_passes_through(self) -> None:
        """Text with no markup is only unescaped and collapsed."""
        assert plain_text("  a &lt; b\t c ") == "a < b c"

    def test_every_whitespace_collapses_and_unprintables_go(self) -> None:
        """Unicode spaces, NEL and the ASCII separators collapse to one space; a NUL, a zero-width
        space and a lone surrogate are removed."""
        text = "\u2003a\x85b\x1c c\u3000\x00d\u200be\ud800 "
        assert plain_text(text) == "a b c de"


class TestFingerprint:
    def test_same_content_differently_written(self) -> None:
        """Case, accents, punctuation and spacing do not change the fingerprint."""
        a = content_fingerprint("Rusia y Venezuela firman acuerdo", "Cooperación  militar.")
        b = content_fingerprint("RUSIA Y VENEZUELA FIRMAN ACUERDO:", "cooperacion militar")
        assert a is not None and a == b

    def test_different_content(self) -> None:
        """Different words give different fingerprints."""
        assert content_fingerprint("Russia and Brazil sign deal", "x y") != content_fingerprint(
            "Russia and Chile sign deal", "x y"
        )

    def test_too_short_to_identify(self) -> None:
        """A two-word title ("Noticiero RT") identifies no article by content."""
        assert content_fingerprint("Noticiero RT", "") is None

    def test_fold_text(self) -> None:
        """Folding removes accents and punctuation and lower-cases."""
        assert fold_text("Ação, São PAULO!") == "acao sao paulo"

    def test_fold_text_ascii(self) -> None:
        """On ASCII, every run of punctuation, underscores and spaces becomes one space and the
        ends are trimmed, as on any other text."""
        assert fold_text("__Lula's  visit_to\tMoscow -- 2026!__") == "lula s visit to moscow 2026"
        assert fold_text("  ... ") == ""


@pytest.mark.parametrize(
    ("tag", "expected"), [("pt-BR", "pt"), ("EN_us", "en"), ("ru", "ru"), ("", None), ("12", None)]
)
def test_primary_language(tag: str, expected: str | None) -> None:
    """Language tags are reduced to their primary subtag."""
    assert primary_language(tag) == expected


def test_plain_text_survives_a_declaration_html_parser_asserts_on() -> None:
    """html.parser raises AssertionError on `<![<![`: the tags are cut by pattern instead,
    the text around them is kept."""
    assert plain_text("Before <![<![ declaration> after <b>bold</b>") == "Before after bold"
