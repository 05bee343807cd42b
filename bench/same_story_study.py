"""Streams for `monitor eval stories`, built from the labelled dedup material.

Writes to OUT (default /tmp/monitor-streams):

- `dev_stream.jsonl`: every distinct side of the labelled dev pairs as one item
  `{id, title, text, lang, published, event, thread}`, ordered by publication time (items
  without a time last, in file order). Gold events are the connected components of the
  `same_event` pairs, gold threads those of the `same_thread` pairs (an item's relation to an
  item it was never paired with counts as "different": B-cubed recall is exact, precision a
  lower bound).
- `uci_stream.jsonl`: `clusters_uci.jsonl` in its own order, thread = the aggregator's STORY
  (its timestamps are crawl times, so `published` is null and only the order is used).

Then run, for each:  .venv/bin/python -m monitor eval stories OUT/dev_stream.jsonl

Run: .venv/bin/python bench/same_story_study.py [--pairs FILE] [--uci FILE] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dedup"


class Components:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def dev_stream(pairs_path: Path) -> list[dict[str, object]]:
    pairs = [json.loads(line) for line in pairs_path.open(encoding="utf-8") if line.strip()]
    items: dict[tuple[str, str], int] = {}
    sides: list[dict[str, object]] = []
    events, threads = Components(), Components()
    for pair in pairs:
        ids = []
        for key in ("a", "b"):
            side = pair[key]
            text_key = (side["title"], side.get("text") or "")
            if text_key not in items:
                items[text_key] = len(sides)
                sides.append({**side, "origin": pair["origin"]})
            ids.append(items[text_key])
        for label, components in (("same_event", events), ("same_thread", threads)):
            components.find(ids[0]), components.find(ids[1])
            if pair.get(label) is True:
                components.join(ids[0], ids[1])
    order = sorted(
        range(len(sides)),
        key=lambda i: (sides[i].get("published") is None, str(sides[i].get("published") or ""), i),
    )
    return [
        {
            "id": f"dev-{i}",
            "title": sides[i]["title"],
            "text": sides[i].get("text") or "",
            "lang": sides[i].get("lang"),
            "published": sides[i].get("published"),
            "origin": sides[i]["origin"],
            "event": events.find(i),
            "thread": threads.find(i),
        }
        for i in order
    ]


def uci_stream(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    return [
        {
            "id": f"uci-{r['id']}",
            "title": r["title"],
            "text": "",
            "lang": "en",
            "published": None,
            "thread": r["story"],
        }
        for r in rows
    ]


def write(path: Path, items: list[dict[str, object]]) -> None:
    path.write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    print(f"{path}: {len(items)} items")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, default=SHARED / "pairs_dev.jsonl")
    parser.add_argument("--uci", type=Path, default=SHARED / "clusters_uci.jsonl")
    parser.add_argument("--out", type=Path, default=Path("/tmp/monitor-streams"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.out / "dev_stream.jsonl", dev_stream(args.pairs))
    write(args.out / "uci_stream.jsonl", uci_stream(args.uci))


if __name__ == "__main__":
    main()
