"""A streaming reader for plain, well-formed RSS 2.0 and Atom 1.0, in the shape feedparser gives.

feedparser spends most of a feed's parse time in Python callbacks for every tag and text run.
Most real feeds are well-formed RSS 2.0 or Atom 1.0 built of a handful of elements; this module
reads those with lxml (C) and builds, for each entry, the few fields `monitor.parse` reads, the
way feedparser 6 would: same keys, same text (stripped), same URL resolution, same dates (its own
date parser), same guid-as-link rule, same authors, same xml:lang inheritance.

Anything else raises `UnusualDocumentError`, and the caller hands the document to feedparser:
a document that is not well-formed, has a DOCTYPE (no entity is ever expanded, no DTD loaded,
nothing fetched), is not UTF-8 after charset repair, uses xml:base, or holds inside an entry an
element whose effect on those fields is not mirrored here (itunes:summary, media:title, ...).

The caller's `check_budget` is called every few hundred elements while reading and raises
(TimeoutError) once the parse is over its time budget, so a runaway document stops like a
parse that runs past its budget in a worker process.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.urls import _urljoin
from lxml import etree  # type: ignore[import-untyped]

from monitor.charset import header_charset, xml_charset

ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
# The namespaces whose elements may appear in an entry; each maps to feedparser's prefix.
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
GOOGLE_DATA_NS = "http://schemas.google.com/g/2005"
# Namespaces none of whose elements feedparser maps onto the fields read here.
INERT_NAMESPACES = frozenset(
    {
        "http://purl.org/rss/1.0/modules/slash/",
        "http://wellformedweb.org/CommentAPI/",
        "http://rssnamespace.org/feedburner/ext/1.0",
        "http://www.georss.org/georss",
        "http://www.w3.org/2003/01/geo/wgs84_pos#",
        "http://purl.org/syndication/thread/1.0",
        "com-wordpress:feed-additions:1",
        "http://www.youtube.com/xml/schemas/2015",
    }
)
# RSS item children without a namespace that touch none of the fields read here.
INERT_RSS_CHILDREN = frozenset({"category", "comments", "enclosure"})
INERT_ATOM_CHILDREN = frozenset({"category", "rights", "contributor"})
INERT_DC_CHILDREN = frozenset({"subject", "rights", "publisher", "type", "format", "source"})
MEDIA_FIELD_CHILDREN = frozenset({"title", "description"})  # feedparser reads them as ours
CHANNEL_FIELDS = frozenset(
    {"title", "language", "ttl", f"{{{DC_NS}}}title".lower(), f"{{{DC_NS}}}language".lower()}
)
LANG_ATTRIBUTES = frozenset({XML_LANG, "lang"})
# Attributes of a text element that change nothing here ("mode" may mean base64; "href" may
# make an RSS link Atom-like; "url" or "uri" too).
TEXT_ATTRIBUTES = LANG_ATTRIBUTES | {"type", "isPermaLink", "ispermalink"}
CP1252 = str.maketrans(_cp1252)
ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)[\s/>]", re.IGNORECASE)
HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
TEXT_TYPES = frozenset({"text/plain"}) | HTML_TYPES
RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
LINK_QUERY_FIX = re.compile("&([A-Za-z0-9_]+);")
# Elements one item (or other top-level element) may hold before it is let go: a plain entry
# has tens; a body of 10 MB of tags inside one element would otherwise be kept whole here, in
# the service's own process, instead of in a worker that can be stopped.
MAX_HELD_ELEMENTS = 10_000
EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
# A "<" with no ">" in the next 4,096 characters: html.parser scans from every such tag to the
# end of the text (40 KB of "<a " took 18 s), and a thread cannot be stopped in the middle of
# it. Where every tag ends within that distance, a megabyte of tags costs about 0.4 s, and the
# budget is checked between entries.
RISKY_MARKUP_MIN_CHARS = 4_096
RISKY_MARKUP = re.compile(f"<[^>]{{{RISKY_MARKUP_MIN_CHARS}}}")
# A date text longer than this goes to feedparser (its regular expressions, unbounded input).
MAX_DATE_CHARS = 200
BUDGET_CHECK_EVERY = 256  # parser events between two looks at the clock


# Called while parsing; raises (TimeoutError) to stop a parse over its time budget.
BudgetCheck = Callable[[], None]


class UnusualDocumentError(Exception):
    """The document is not one this reader mirrors feedparser on; parse it with feedparser."""


@dataclass(slots=True)
class FastDocument:
    """What `monitor.parse` reads of a feedparser result: version, feed fields, entries."""

    version: str
    feed: dict[str, Any] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_feedparser(self) -> dict[str, Any]:
        return {"version": self.version, "feed": self.feed, "entries": self.entries, "bozo": 0}


def no_budget() -> None:
    """A `BudgetCheck` that never stops the parse."""


def fast_parse(
    body: bytes, headers: Mapping[str, str], check_budget: BudgetCheck = no_budget
) -> FastDocument:
    """Read `body` (charset already repaired, entries already capped) like feedparser would, or
    raise UnusualDocumentError; whatever `check_budget` raises stops it.
    `headers` are feedparser's response headers (lower-case names)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise UnusualDocumentError("not UTF-8") from None
    head = body[:4096]
    if DOCTYPE.search(head) or (b"<!" in body and DOCTYPE.search(body)):
        raise UnusualDocumentError("a DOCTYPE or entity declaration")
    declared = header_charset(headers) or xml_charset(body)
    if declared not in (None, "utf-8") and not (body.isascii() and b"&#" not in body):
        raise UnusualDocumentError(f"declared {declared}")
    reader = Reader(
        base=headers.get("content-location") or "",
        lang=headers.get("content-language") or None,
        check_budget=check_budget,
        utf8=declared in (None, "utf-8"),
    )
    try:
        document = reader.read(body)
    except etree.LxmlError as exc:
        raise UnusualDocumentError(f"not well-formed: {exc}") from None
    if len(document.entries) != len(ENTRY_TAG.findall(body)):
        # An entry element elsewhere (feedparser starts an entry at any item or entry tag).
        raise UnusualDocumentError("entry elements outside the channel's items")
    return document


@dataclass(slots=True)
class Reader:
    base: str
    lang: str | None
    check_budget: BudgetCheck
    utf8: bool = True  # whether feedparser reads the document as UTF-8
    events: int = 0
    # False when the document holds no "base" at all, so no element can carry xml:base.
    may_have_base: bool = True

    def read(self, body: bytes) -> FastDocument:
        self.may_have_base = b"base" in body
        events = etree.iterparse(
            io.BytesIO(body),
            events=("start", "end"),
            encoding="utf-8",
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        stream = self.timed(events)
        _event, root = next(stream)
        if root.getroottree().docinfo.doctype:
            raise UnusualDocumentError("a DOCTYPE")
        if root.tag == "rss":
            return self.read_rss(root, stream)
        if root.tag == f"{{{ATOM}}}feed":
            return self.read_atom(root, stream)
        raise UnusualDocumentError(f"root element {root.tag!r}")

    def timed(self, events: Any) -> Iterator[tuple[str, Any]]:
        may_have_base = self.may_have_base
        for event, element in events:
            self.events += 1
            if self.events % BUDGET_CHECK_EVERY == 0:
                self.check_budget()
            if may_have_base and event == "start" and XML_BASE in element.attrib:
                raise UnusualDocumentError("xml:base")
            yield event, element

    def element_lang(self, element: Any, inherited: str | None) -> str | None:
        """feedparser's rule: xml:lang (or lang) of the element, '' meaning none, else the
        parent's."""
        if not element.keys():  # most elements have no attribute at all
            return inherited
        value = element.get(XML_LANG, element.get("lang"))
        if value == "":
            return None
        return inherited if value is None else value

    # --- RSS 2.0 --------------------------------------------------------------------------

    def read_rss(self, root: Any, stream: Iterator[tuple[str, Any]]) -> FastDocument:
        version_attr = root.get("version", "")
        version = RSS_VERSIONS.get(version_attr) or (
            "rss20" if version_attr.startswith("2.") else "rss"
        )
        document = FastDocument(version)
        root_lang = self.element_lang(root, self.lang)
        if root_lang:
            document.feed["language"] = root_lang.replace("_", "-")
        elif self.lang:
            document.feed["language"] = self.lang.replace("_", "-")
        depth = 1
        channel_lang = root_lang
        channels = 0
        seen_feed_fields: set[str] = set()
        held = 0  # elements held in memory under the current channel child
        for event, element in stream:
            if event == "start":
                depth += 1
                held = held_check(held, depth > 2)
                if depth == 2:
                    if element.tag != "channel" or channels:
                        raise UnusualDocumentError(f"{element.tag!r} outside the channel")
                    channels += 1
                    channel_lang = self.element_lang(element, root_lang)
                elif depth == 3 and element.tag == "item" and set(element.attrib) - LANG_ATTRIBUTES:
                    raise UnusualDocumentError("an item with attributes")
                continue
            depth -= 1
            if depth == 2:
                held = 0
                tag = element.tag
                if tag == "item":
                    lang = self.element_lang(element, channel_lang)
                    document.entries.append(self.rss_item(element, lang))
                    clear(element)
                elif isinstance(tag, str) and tag.lower() in CHANNEL_FIELDS:
                    self.channel_field(document, element, seen_feed_fields)
                    clear(element)
                else:
                    clear(element)
        return document

    def channel_field(self, document: FastDocument, element: Any, seen: set[str]) -> None:
        name = local_name(element.tag)
        if name in seen:
            raise UnusualDocumentError(f"two channel {name} elements")
        seen.add(name)
        document.feed[name] = self.leaf_text(element)

    def rss_item(self, item: Any, lang: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        has_content = False
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):
                raise UnusualDocumentError("an entity or other node in an item")
            namespace, name = split_tag(tag)
            child_lang = self.element_lang(child, lang)
            if namespace is None:
                if name == "title":
                    self.text_field(entry, "title", child, child_lang)
                elif name == "description":
                    text = self.leaf_text(child)
                    if "summary" in entry and not has_content:
                        entry.setdefault("content", []).append({"value": text})
                    else:
                        entry["summary"] = text
                        entry["summary_detail"] = {"language": normal_lang(child_lang)}
                elif name == "link":
                    if {"href", "url", "uri"} & set(child.attrib):
                        raise UnusualDocumentError("an RSS link with an address attribute")
                    value = self.leaf_text(child, resolve=True)
                    entry["link"] = rss_link(value)
                elif name == "guid":
                    self.guid(entry, child)
                elif name == "pubdate":
                    self.date(entry, "published", child)
                elif name == "author":
                    self.rss_author(entry, child)
                elif name in INERT_RSS_CHILDREN:
                    require_leaf(child)
                else:
                    raise UnusualDocumentError(f"item element {name!r}")
            elif namespace == CONTENT_NS and name == "encoded":
                has_content = True
                text = self.leaf_text(child)
                entry.setdefault("content", []).append({"value": text})
                entry.setdefault("summary", text)  # feedparser copies the text only
            elif namespace == DC_NS and name == "creator":
                self.rss_author(entry, child)
            elif namespace == DC_NS and name == "date":
                self.date(entry, "updated", child)
            elif namespace == DC_NS and name in INERT_DC_CHILDREN:
                require_leaf(child)
            elif namespace == MEDIA_NS or namespace in INERT_NAMESPACES:
                require_inert(child, namespace)
            else:
                raise UnusualDocumentError(f"item element {tag!r}")
        return entry

    # --- Atom 1.0 -------------------------------------------------------------------------

    def read_atom(self, root: Any, stream: Iterator[tuple[str, Any]]) -> FastDocument:
        document = FastDocument("atom10")
        root_lang = self.element_lang(root, self.lang)
        if root_lang:
            document.feed["language"] = root_lang.replace("_", "-")
        depth = 1
        seen_feed_fields: set[str] = set()
        held = 0  # elements held in memory under the current top-level element
        for event, element in stream:
            if event == "start":
                depth += 1
                held = held_check(held, depth > 2)
                continue
            depth -= 1
            if depth != 1:
                continue
            held = 0
            tag = element.tag
            if tag == f"{{{ATOM}}}entry":
                if set(element.attrib) - LANG_ATTRIBUTES:
                    raise UnusualDocumentError("an entry with attributes")
                lang = self.element_lang(element, root_lang)
                document.entries.append(self.atom_entry(element, lang))
            elif tag == f"{{{ATOM}}}title":
                self.atom_text_type(element)
                self.channel_field(document, element, seen_feed_fields)
            elif tag in (f"{{{DC_NS}}}title", f"{{{DC_NS}}}language", "title", "language"):
                raise UnusualDocumentError(f"feed element {tag!r}")
            clear(element)
        return document

    def atom_entry(self, item: Any, lang: str | None) -> dict[str, Any]:
        entry: dict[str, Any] = {}
        has_content = False
        for child in item:
            tag = child.tag
            if not isinstance(tag, str):
                raise UnusualDocumentError("an entity or other node in an entry")
            namespace, name = split_tag(tag)
            child_lang = self.element_lang(child, lang)
            if namespace == ATOM:
                if name == "title":
                    self.atom_text_type(child)
                    self.text_field(entry, "title", child, child_lang)
                elif name == "summary":
                    self.atom_text_type(child)
                    text = self.leaf_text(child)
                    if "summary" in entry and not has_content:
                        entry.setdefault("content", []).append({"value": text})
                    else:
                        entry["summary"] = text
                        entry["summary_detail"] = {"language": normal_lang(child_lang)}
                elif name == "content":
                    content_type = self.atom_text_type(child)
                    has_content = True
                    if "src" in child.attrib:
                        raise UnusualDocumentError("out-of-line content")
                    text = self.leaf_text(child)
                    entry.setdefault("content", []).append({"value": text})
                    if content_type in TEXT_TYPES:
                        entry.setdefault("summary", text)  # the text only, as feedparser
                elif name == "link":
                    self.atom_link(entry, child)
                elif name == "id":
                    self.guid(entry, child)
                elif name == "published":
                    self.date(entry, "published", child)
                elif name == "updated":
                    self.date(entry, "updated", child)
                elif name == "author":
                    self.atom_author(entry, child)
                elif name in INERT_ATOM_CHILDREN:
                    require_leaf(child)
                else:
                    raise UnusualDocumentError(f"entry element {name!r}")
            elif namespace == MEDIA_NS or namespace in INERT_NAMESPACES:
                require_inert(child, namespace)
            else:
                raise UnusualDocumentError(f"entry element {tag!r}")
        return entry

    def atom_text_type(self, element: Any) -> str:
        content_type = map_content_type(element.get("type", "text"))
        if content_type not in TEXT_TYPES or content_type == "application/xhtml+xml":
            raise UnusualDocumentError(f"content of type {content_type!r}")
        return content_type

    def atom_link(self, entry: dict[str, Any], element: Any) -> None:
        attrs = dict(element.attrib)
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href is None:
            raise UnusualDocumentError("an Atom link without href")
        rel = attrs.get("rel", "alternate")
        link_type = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and map_content_type(link_type) in HTML_TYPES:
            entry["link"] = _urljoin(self.base, href)

    def atom_author(self, entry: dict[str, Any], element: Any) -> None:
        detail: dict[str, str] = {}
        for child in element:
            if not isinstance(child.tag, str):
                raise UnusualDocumentError("an entity in an author")
            namespace, name = split_tag(child.tag)
            if namespace == GOOGLE_DATA_NS:
                require_inert(child, namespace)  # gd:image: the author's picture
                continue
            if namespace != ATOM or name not in ("name", "email", "uri"):
                raise UnusualDocumentError(f"author element {child.tag!r}")
            if name in detail:
                raise UnusualDocumentError(f"two author {name} elements")
            detail[name] = self.leaf_text(child)
        entry.setdefault("authors", []).append({"name": detail["name"]} if "name" in detail else {})
        person, email = detail.get("name"), detail.get("email")
        if person and email:
            entry["author"] = f"{person} ({email})"
        elif person or email:
            entry["author"] = person or email

    # --- fields ---------------------------------------------------------------------------

    def leaf_text(self, element: Any, resolve: bool = False) -> str:
        """The element's text as feedparser's `pop` leaves it: stripped, resolved against the
        base when `resolve` (and not empty), UTF-8 read as Latin-1 undone, C1 controls read
        as windows-1252."""
        if len(element):
            raise UnusualDocumentError(f"markup inside {local_name(element.tag)}")
        names = element.keys()
        if names and set(names) - TEXT_ATTRIBUTES:
            raise UnusualDocumentError(f"attributes on {local_name(element.tag)}")
        text = (element.text or "").strip()
        if len(text) > RISKY_MARKUP_MIN_CHARS and "<" in text and RISKY_MARKUP.search(text):
            # html.parser (monitor.normalize.plain_text) takes quadratic time on a tag that
            # does not end; only a worker process can be stopped in the middle of that.
            raise UnusualDocumentError("a tag that does not end")
        if resolve and text:
            text = _urljoin(self.base, text)
        if text.isascii():  # nothing to undo, and no C1 control to map (a fifth of the time)
            return text
        if self.utf8:
            with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
                text = text.encode("iso-8859-1").decode("utf-8")
        return text.translate(CP1252)

    def text_field(self, entry: dict[str, Any], key: str, element: Any, lang: str | None) -> None:
        if key in entry:
            raise UnusualDocumentError(f"two {key} elements in an entry")
        entry[key] = self.leaf_text(element)
        entry[f"{key}_detail"] = {"language": normal_lang(lang)}

    def guid(self, entry: dict[str, Any], element: Any) -> None:
        is_link = element.get("isPermaLink", element.get("ispermalink", "true")) == "true"
        if "isPermaLink" in element.attrib and "ispermalink" in element.attrib:
            raise UnusualDocumentError("two isPermaLink attributes")
        value = self.leaf_text(element, resolve=is_link)
        entry["id"] = value
        if is_link:
            entry.setdefault("link", value)

    def date(self, entry: dict[str, Any], key: str, element: Any) -> None:
        value = self.leaf_text(element)
        if len(value) > MAX_DATE_CHARS:
            raise UnusualDocumentError("an over-long date")
        entry[key] = value
        entry[f"{key}_parsed"] = _parse_date(value)

    def rss_author(self, entry: dict[str, Any], element: Any) -> None:
        """RSS author or dc:creator: feedparser's `_sync_author_detail` on a bare text."""
        value = self.leaf_text(element)
        entry["author"] = value
        detail: dict[str, str] = {}
        author = value
        match = EMAIL.search(author) if author else None
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author:
            detail["name"] = author
        entry.setdefault("authors", []).append(detail)


def require_leaf(element: Any) -> None:
    if len(element):
        raise UnusualDocumentError(f"markup inside {local_name(element.tag)}")


def require_inert(element: Any, namespace: str) -> None:
    """An element of a namespace that feedparser keeps apart, holding only its own namespace's
    elements, none of them one feedparser reads as a title or summary (media:title...)."""
    for inner in element.iter():
        if not isinstance(inner.tag, str):
            raise UnusualDocumentError("an entity or other node in an entry")
        inner_namespace, name = split_tag(inner.tag)
        if inner_namespace != namespace or name in MEDIA_FIELD_CHILDREN:
            raise UnusualDocumentError(f"entry element {inner.tag!r}")


def clear(element: Any) -> None:
    """Free what was read: the element's content and the siblings already done."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def split_tag(tag: str) -> tuple[str | None, str]:
    """(namespace, local name in lower case: feedparser lower-cases element names)."""
    if tag.startswith("{"):
        namespace, _, name = tag[1:].partition("}")
        return namespace, name.lower()
    return None, tag.lower()


def local_name(tag: str) -> str:
    return split_tag(tag)[1]


def map_content_type(content_type: str) -> str:
    lowered = content_type.lower()
    return {"text": "text/plain", "plain": "text/plain", "html": "text/html"}.get(
        lowered, "application/xhtml+xml" if lowered == "xhtml" else lowered
    )


def normal_lang(lang: str | None) -> str | None:
    return lang.replace("_", "-") if lang else lang


def rss_link(value: str) -> str:
    """An RSS <link>'s text as feedparser leaves it: a double-escaped `&amp;` unescaped once,
    and `&name;` (a query variable read as an unknown reference) back to `&name`."""
    return LINK_QUERY_FIX.sub(r"&\g<1>", value.replace("&amp;", "&"))


def held_check(held: int, nested: bool) -> int:
    """One more element held under the current top-level element (when `nested`)."""
    if not nested:
        return held
    if held >= MAX_HELD_ELEMENTS:
        raise UnusualDocumentError(f"more than {MAX_HELD_ELEMENTS:,} elements in one element")
    return held + 1
