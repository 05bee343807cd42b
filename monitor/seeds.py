"""Seed corpus: reference articles cleaned of boilerplate and split into passages.

Cleaning, splitting and `parse_seed` are pure; `read_seed` and `list_seed_files` are the file
edge (a seed is a plain-text file in the seed folder)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PASSAGE_MAX_CHARS = 400
MIN_LINE_CHARS = 25
BOILERPLATE_LINE = re.compile(
    r"^(?:related:|source:|photo:|hour:|read more|see also|fuente:|foto:|fonte:|leia mais|"
    r"@\w|#\w|—\s|-- |♬|pic\.twitter\.com|https?://|i[’']m [A-Z][a-z]+ [A-Z])",
    re.IGNORECASE,
)
EMBED_MARKERS = re.compile(r"pic\.twitter\.com/\S+|https?://\S+|@\w+|\(@[^)]*\)")
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[A-ZÁÉÍÓÚÑА-ЯЁ“\"«])")


@dataclass(frozen=True, slots=True)
class Seed:
    name: str
    digest: str
    passages: tuple[str, ...]


def clean_seed_text(text: str) -> list[str]:
    """The article's paragraphs without embeds, captions, "Related:" links and author blurbs."""
    paragraphs: list[str] = []
    skip_next = False
    for raw in text.splitlines():
        line = raw.strip()
        if skip_next:
            skip_next = False
            continue
        if line.lower().startswith("related:"):
            skip_next = line.lower() == "related:"
            continue
        if not line or BOILERPLATE_LINE.match(line) or len(line) < MIN_LINE_CHARS:
            continue
        line = EMBED_MARKERS.sub("", line).strip()
        if len(line) >= MIN_LINE_CHARS and not is_caption(line):
            paragraphs.append(line)
    return paragraphs


def is_caption(line: str) -> bool:
    """Photo captions end with an agency credit ("… Photo: EFE") and have no sentence end."""
    return bool(re.search(r"photo:\s*\w+$", line, re.IGNORECASE)) or (
        len(line) < 90 and not line.endswith((".", "!", "?", "”", '"'))
    )


def split_passages(paragraphs: Sequence[str], max_chars: int = PASSAGE_MAX_CHARS) -> list[str]:
    """Sentences grouped into passages of at most `max_chars`, never across paragraphs."""
    passages: list[str] = []
    for paragraph in paragraphs:
        current = ""
        for sentence in SENTENCE_END.split(paragraph):
            if current and len(current) + 1 + len(sentence) > max_chars:
                passages.append(current)
                current = sentence
            else:
                current = f"{current} {sentence}".strip()
        if current:
            passages.append(current)
    return passages


def parse_seed(name: str, data: bytes) -> Seed:
    text = data.decode("utf-8", errors="replace")
    return Seed(
        name, hashlib.sha256(data).hexdigest(), tuple(split_passages(clean_seed_text(text)))
    )


def read_seed(path: Path) -> Seed:
    return parse_seed(path.stem, path.read_bytes())


def list_seed_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.txt") if p.is_file())


def seed_set_digest(seeds: Sequence[Seed]) -> str:
    return hashlib.sha256("\n".join(f"{s.name}:{s.digest}" for s in seeds).encode()).hexdigest()[
        :16
    ]
