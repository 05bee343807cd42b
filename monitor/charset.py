"""Repair mislabelled character sets before feedparser sees a document.

feedparser trusts the HTTP charset, then the XML declaration. Real servers get both wrong:
UTF-8 labelled windows-1252, windows-1251 labelled ISO-8859-1, KOI8-R labelled windows-1251.
Any single-byte label "decodes" anything, so the wrong one silently yields mojibake. We
intervene only when the evidence is clear: bytes that are valid UTF-8 (and not pure ASCII) are
UTF-8; legacy bytes whose declared charset decodes into mojibake are re-decoded with the first
candidate that reads plausibly, and handed on as UTF-8. UTF-16 and UTF-32, with or without a
byte-order mark, are recognised first by their byte pattern (every ASCII character of the
markup carries zero bytes) and handed on as UTF-8: a single-byte "repair" would destroy them.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping

XML_DECLARATION = re.compile(rb"^(\s*<\?xml[^>]*?encoding\s*=\s*[\"'])([A-Za-z0-9._:-]+)([\"'])")
HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.IGNORECASE)
# UTF-32 first: its little-endian mark begins with UTF-16's.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Share of zero bytes at each position modulo 4 that marks a wide encoding without a BOM:
# (zero at these positions, nonzero at those). ASCII markup in UTF-16-LE is "<\0?\0x\0".
WIDE_PATTERNS = (
    ("utf-32-le", (1, 2, 3), (0,)),
    ("utf-32-be", (0, 1, 2), (3,)),
    ("utf-16-le", (1, 3), (0, 2)),
    ("utf-16-be", (0, 2), (1, 3)),
)
WIDE_SAMPLE_BYTES = 512
MIN_ZERO_SHARE = 0.5
MAX_ZERO_SHARE = 0.05
FALLBACK_CHARSETS = ("windows-1251", "koi8-r", "windows-1252")
LATIN1_RUN = re.compile("[\u00c0-\u00ff]{3,}")
CYRILLIC = re.compile("[\u0400-\u04ff]")
CYRILLIC_UPPER = re.compile("[\u0400-\u042f]")
MAX_IMPLAUSIBILITY = 0.1


def repair_charset(body: bytes, headers: Mapping[str, str]) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers feedparser should get; unchanged unless the label is wrong."""
    out_headers = dict(headers)
    wide_text = decode_wide(body)
    if wide_text is not None:
        return label_as_utf8(wide_text.encode(), out_headers)
    if body.startswith((codecs.BOM_UTF8, *(bom for bom, _ in WIDE_BOMS))) or body.isascii():
        return body, out_headers
    declared = [c for c in (header_charset(headers), xml_charset(body)) if c]
    if is_utf8(body):
        if any(c != "utf-8" for c in declared):
            return label_as_utf8(body, out_headers)
        return body, out_headers
    chosen = choose_legacy_charset(body, declared)
    if chosen is None or (declared and chosen == declared[0] and len(set(declared)) == 1):
        return body, out_headers
    return label_as_utf8(body.decode(chosen, errors="replace").encode(), out_headers)


def decode_wide(body: bytes) -> str | None:
    """The text of a UTF-16 or UTF-32 body (known by its mark, else by where its zero bytes
    fall) when it decodes into markup; None for every other body."""
    encoding = next((name for bom, name in WIDE_BOMS if body.startswith(bom)), None)
    if encoding is None:
        encoding = wide_pattern(body[:WIDE_SAMPLE_BYTES])
    if encoding is None:
        return None
    text = body.decode(encoding, errors="replace").removeprefix("\ufeff")
    return text if text.lstrip().startswith(("<", "{")) else None


def wide_pattern(sample: bytes) -> str | None:
    sample = sample[: len(sample) - len(sample) % 4]
    if len(sample) < 4 or b"\0" not in sample:
        return None
    columns = [sample[offset::4] for offset in range(4)]
    zero_share = [column.count(0) / len(column) for column in columns]
    for encoding, zero_at, nonzero_at in WIDE_PATTERNS:
        if all(zero_share[i] >= MIN_ZERO_SHARE for i in zero_at) and all(
            zero_share[i] <= MAX_ZERO_SHARE for i in nonzero_at
        ):
            return encoding
    return None


def choose_legacy_charset(body: bytes, declared: list[str]) -> str | None:
    """The first declared charset that reads plausibly, else the most plausible candidate."""
    candidates = list(dict.fromkeys([*declared, *FALLBACK_CHARSETS]))
    scored = []
    for charset in candidates:
        try:
            text = body.decode(charset)
        except (UnicodeDecodeError, LookupError):
            continue
        score = implausibility(text)
        if charset in declared and score <= MAX_IMPLAUSIBILITY:
            return charset
        scored.append((score, charset))
    if not scored:
        return None
    best_score, best = min(scored)
    return best if best_score <= MAX_IMPLAUSIBILITY else None


def implausibility(text: str) -> float:
    """Share of non-ASCII characters that look like mojibake (0 = clean text)."""
    non_ascii = sum(1 for ch in text if ord(ch) > 0x7F)
    if not non_ascii:
        return 0.0
    bad = sum(1 for ch in text if 0x80 <= ord(ch) <= 0x9F or ch == "\ufffd")
    bad += sum(len(run) for run in LATIN1_RUN.findall(text))
    cyrillic = len(CYRILLIC.findall(text))
    if cyrillic >= 8 and len(CYRILLIC_UPPER.findall(text)) > cyrillic / 2:
        bad += cyrillic
    return bad / non_ascii


def is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def canonical_charset(name: str) -> str | None:
    try:
        return codecs.lookup(name).name.replace("_", "-").replace("cp125", "windows-125")
    except LookupError:
        return None


def header_charset(headers: Mapping[str, str]) -> str | None:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    match = HEADER_CHARSET.search(content_type)
    return canonical_charset(match.group(1)) if match else None


def xml_charset(body: bytes) -> str | None:
    match = XML_DECLARATION.match(body[:512])
    return canonical_charset(match.group(2).decode("ascii")) if match else None


def label_as_utf8(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body = XML_DECLARATION.sub(rb"\1utf-8\3", body, count=1)
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    media_type = (content_type or "application/xml").split(";", 1)[0].strip()
    headers["content-type"] = f"{media_type}; charset=utf-8"
    return body, headers
