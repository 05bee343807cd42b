"""Relevance scoring speed: milliseconds per item of `monitor.relevance.assess`, and a check that
its outputs (score, relevant, countries, topics, reasons) are byte-identical to a saved baseline.

For the labelled relevance files (default: dev.jsonl, dev2.jsonl, dev_es.jsonl of the shared
eval folder) it takes each item's nearest seed once with the default encoder (cached under CACHE,
default /tmp/monitor-relevance-speed, keyed by the texts), then times `assess` with the shipped
gazetteer and weights twice: on the second half of the items, never seen by the process but
after the first half has filled the caches of words and per-key expressions as a running
worker's would (the honest figure for new articles), and over every item again (best of ROUNDS
passes over texts seen before, wall-clock and process CPU time; the CPU figure holds better on
a loaded machine).

    --save-baseline FILE   write every item's output as JSON lines (take it before a change)
    --baseline FILE        compare every item's output with FILE; exits 1 on any difference

Run: .venv/bin/python bench/relevance_speed.py [--files F...] [--rounds N] [--baseline FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from monitor.embed import USE_MULTILINGUAL, open_embedder
from monitor.evaluation import read_jsonl
from monitor.gazetteer import load_gazetteer
from monitor.relevance import NearestSeed, assess
from monitor.relevance_files import load_relevance_model, load_seed_index
from monitor.tagging import embedding_text, relevance_record

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval" / "relevance"
SEEDS = ROOT / "config" / "seeds" / "russia-latam"


def nearest_seeds(items: Sequence[tuple[str, str]], cache: Path) -> list[NearestSeed | None]:
    texts = [embedding_text(t, s) for t, s in items]
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"nearest-{key}.json"
    if not path.exists():
        embedder = open_embedder(USE_MULTILINGUAL)
        found = load_seed_index(SEEDS, embedder, cache).nearest(embedder.embed(texts))
        cache.mkdir(parents=True, exist_ok=True)
        rows = [[n.name, n.similarity, n.title] if n else None for n in found]
        path.write_text(json.dumps(rows))
    return [NearestSeed(r[0], r[1], r[2]) if r else None for r in json.loads(path.read_text())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [SHARED / n for n in ("dev.jsonl", "dev2.jsonl", "dev_es.jsonl")]
    parser.add_argument("--files", nargs="+", type=Path, default=default)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/monitor-relevance-speed"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--save-baseline", type=Path)
    parser.add_argument("--baseline", type=Path)
    args = parser.parse_args()
    records: list[dict[str, Any]] = [r for f in args.files for r in read_jsonl(f)]
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    seeds = nearest_seeds(items, args.cache)
    gazetteer = load_gazetteer(ROOT / "config" / "gazetteer")
    model = load_relevance_model(ROOT / "config" / "relevance.toml")
    pairs = list(zip(items, seeds, strict=True))
    half = len(pairs) // 2
    for (title, summary), seed in pairs[:half]:  # the process meets its first texts
        assess(gazetteer, model, title, summary, seed)
    start_cpu = time.process_time()
    for (title, summary), seed in pairs[half:]:  # texts this process has never seen
        assess(gazetteer, model, title, summary, seed)
    unseen_cpu = (time.process_time() - start_cpu) / (len(pairs) - half)
    outputs = [assess(gazetteer, model, t, s, seed) for (t, s), seed in pairs]
    wall = cpu = float("inf")
    for _ in range(args.rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        for (title, summary), seed in pairs:
            assess(gazetteer, model, title, summary, seed)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    print(
        f"{len(items)} items, seen before: {1000 * wall / len(items):.3f} ms/item wall, "
        f"{1000 * cpu / len(items):.3f} ms/item CPU (best of {args.rounds} passes)"
    )
    print(
        f"{len(pairs) - half} items never seen by the process (after {half} others): "
        f"{1000 * unseen_cpu:.3f} ms/item CPU"
    )
    lines = [
        json.dumps(relevance_record(r.get("id"), out), ensure_ascii=False, sort_keys=True)
        for r, out in zip(records, outputs, strict=True)
    ]
    if args.save_baseline:
        args.save_baseline.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"saved {len(lines)} outputs to {args.save_baseline}")
    if args.baseline:
        saved = args.baseline.read_text(encoding="utf-8").splitlines()
        differing = [i for i, (a, b) in enumerate(zip(lines, saved, strict=False)) if a != b]
        if len(saved) != len(lines) or differing:
            print(
                f"DIFFERENT: {len(differing)} items differ (first: {differing[:5]}), "
                f"{len(saved)} saved vs {len(lines)} now"
            )
            sys.exit(1)
        print(f"identical: all {len(lines)} outputs match {args.baseline}")


if __name__ == "__main__":
    main()
