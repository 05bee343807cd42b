"""Cut a feed document before its first entry over the cap, so feedparser never reads more.

feedparser parses a whole document before we see any entry, so a cap applied afterwards does
not bound the work: a 50,000-item feed runs past the parse budget and keeps nothing. Counting
entry tags is cheap; only a document with more than the cap is scanned with expat (C, no
callbacks for text) up to the first entry over the cap, cut there, and closed with the end
tags of the elements still open, so it stays well-formed. A document expat cannot read
(malformed, or an encoding it lacks) is cut at the tag found by pattern; feedparser's
lenient parser reads the unclosed rest.
"""

from __future__ import annotations

import re
import xml.parsers.expat

ENTRY_NAMES = frozenset({"item", "entry"})
ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]")


class CapReachedError(Exception):
    """Raised inside expat's handler to stop at the first entry over the cap."""

    def __init__(self, offset: int, open_elements: tuple[str, ...]) -> None:
        super().__init__(offset)
        self.offset = offset
        self.open_elements = open_elements


def cap_entries(body: bytes, max_entries: int) -> tuple[bytes, int]:
    """The document holding at most `max_entries` entries, and how many entries were cut."""
    tags = [match.start() for match in ENTRY_TAG.finditer(body)]
    if len(tags) <= max_entries:
        return body, 0
    try:
        offset, open_elements = find_entry_over_cap(body, max_entries)
    except (xml.parsers.expat.ExpatError, ValueError, LookupError):
        # Malformed, or an encoding expat cannot use (multi-byte, unknown): cut at the tag.
        offset, open_elements = tags[max_entries], ()
    if offset is None:
        return body, 0
    closing = "".join(f"</{name}>" for name in reversed(open_elements))
    if not closing.isascii():
        closing = ""
    cut = sum(1 for tag in tags if tag >= offset)
    return body[:offset] + closing.encode("ascii"), cut


def find_entry_over_cap(body: bytes, max_entries: int) -> tuple[int | None, tuple[str, ...]]:
    """Byte offset of entry number `max_entries` + 1 and the elements open there (None when
    the document has no more entries than that). Raises ExpatError for a malformed document,
    ValueError or LookupError for an encoding expat cannot use.
    """
    parser = xml.parsers.expat.ParserCreate()
    stack: list[str] = []
    entry_depth: int | None = None  # inside an entry: an <item> in it is not another entry
    seen = 0

    def start(name: str, _attributes: object) -> None:
        nonlocal seen, entry_depth
        if entry_depth is None and name.rpartition(":")[2] in ENTRY_NAMES:
            if seen == max_entries:
                raise CapReachedError(parser.CurrentByteIndex, tuple(stack))
            seen += 1
            entry_depth = len(stack)
        stack.append(name)

    def end(_name: str) -> None:
        nonlocal entry_depth
        stack.pop()
        if entry_depth == len(stack):
            entry_depth = None

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except CapReachedError as over:
        return over.offset, over.open_elements
    return None, ()
