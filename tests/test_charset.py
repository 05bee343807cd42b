"""monitor.charset on its own: what is recognised as UTF-16/32, and what is left alone."""

from __future__ import annotations

import pytest

from monitor.charset import decode_wide, repair_charset

DOCUMENT = '<?xml version="1.0" encoding="utf-16"?><rss><channel><title>São Paulo и Москва</title>'


class TestWideUnicode:
    @pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
    def test_handed_on_as_utf8_with_its_labels_rewritten(self, encoding: str) -> None:
        """A wide body without a BOM becomes UTF-8, its declaration and content type saying so."""
        body, headers = repair_charset(DOCUMENT.encode(encoding), {"content-type": "text/xml"})
        assert body.decode("utf-8") == DOCUMENT.replace("utf-16", "utf-8")
        assert headers["content-type"] == "text/xml; charset=utf-8"

    def test_odd_trailing_byte_does_not_lose_the_document(self) -> None:
        """A truncated UTF-16 body still decodes; only the broken last character is replaced."""
        text = decode_wide(DOCUMENT.encode("utf-16-le") + b"<")
        assert text is not None and text.startswith(DOCUMENT)

    @pytest.mark.parametrize(
        "body",
        [
            b"\x00\x01\x02 binary junk",
            b"<rss>plain</rss>",
            "<rss>Москва</rss>".encode("koi8-r"),
            b"<rss>a\x00b\x00c</rss>",
        ],
    )
    def test_other_bodies_are_not_wide(self, body: bytes) -> None:
        """Single-byte documents, even with a stray NUL, and binary junk are not UTF-16/32."""
        assert decode_wide(body) is None
