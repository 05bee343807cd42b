"""The gazetteer's matchers with shared alternations (as shipped) against the same matchers with
flat ones, in one process, interleaved: µs per text of the largest matchers' expressions, and
the whole relevance assessment per item. Texts: bench/process.py's generated articles, and the
labelled eval headlines when ../shared is there. Results must be equal (checked).

    .venv/bin/python bench/gazetteer_speed.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from process import generate  # noqa: E402

from monitor.gazetteer import (  # noqa: E402
    ALTERNATIVES,
    Gazetteer,
    TermGroup,
    TermMatcher,
    fold,
    load_gazetteer,
)
from monitor.relevance import RelevanceModel, assess  # noqa: E402
from monitor.relevance_files import load_relevance_model  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval" / "relevance"


def flat(matcher: TermMatcher) -> TermMatcher:
    if not matcher.alternatives:
        return matcher
    alternation = "|".join(regex for regex, _, _ in matcher.alternatives)
    pattern = re.compile(matcher.template.replace(ALTERNATIVES, alternation))
    return dataclasses.replace(matcher, pattern=pattern, selected={})


def flat_gazetteer(gazetteer: Gazetteer) -> Gazetteer:
    def group(matchers: dict[str, TermMatcher]) -> TermGroup:
        return TermGroup({name: flat(m) for name, m in matchers.items()})

    return dataclasses.replace(
        gazetteer,
        russia=group(dict(gazetteer.russia)),
        countries=group(dict(gazetteer.countries)),
        context=group(dict(gazetteer.context)),
        topics=group(dict(gazetteer.topics)),
        region=flat(gazetteer.region),
        traps=flat(gazetteer.traps),
        source_voice=flat(gazetteer.source_voice),
        names_when_capitalised=flat(gazetteer.names_when_capitalised),
        country_list=flat(gazetteer.country_list),
    )


def interleaved(rounds: int, runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """The median CPU seconds of each run, the runs taking turns round after round."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.process_time()
            run()
            times[name].append(time.process_time() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def largest(gazetteer: Gazetteer) -> dict[str, TermMatcher]:
    return {
        "country_list": gazetteer.country_list,
        "officials": gazetteer.russia["officials"],
        "relation": gazetteer.context["relation"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    shared = load_gazetteer(ROOT / "config" / "gazetteer")
    print(f"gazetteer compiled in {time.perf_counter() - started:.2f} s (shared alternations)")
    plain = flat_gazetteer(shared)
    model = load_relevance_model(ROOT / "config" / "relevance.toml")
    sets: dict[str, Sequence[tuple[str, str]]] = {
        "generated": [(e.title, e.summary) for e in generate(2000)]
    }
    if EVAL.is_dir():
        sets["eval headlines"] = [
            (row.get("title", ""), row.get("text") or row.get("summary") or "")
            for name in ("dev.jsonl", "dev2.jsonl", "dev_es.jsonl")
            for row in map(json.loads, (EVAL / name).read_text().splitlines())
        ]
    for label, items in sets.items():
        measure(label, items, shared, plain, model, args.rounds)


def measure(
    label: str,
    items: Sequence[tuple[str, str]],
    shared: Gazetteer,
    plain: Gazetteer,
    model: RelevanceModel,
    rounds: int,
) -> None:
    folded = [fold(f"{title} | {summary}") for title, summary in items]
    print(f"{label}: {len(items)} texts, median of {rounds} interleaved rounds")
    for name, matcher in largest(shared).items():
        patterns = {"flat": largest(plain)[name].pattern, "shared": matcher.pattern}
        times = interleaved(
            rounds,
            {k: lambda p=p: [p.findall(text) for text in folded] for k, p in patterns.items()},
        )
        print(
            f"  {name:14} ({len(matcher.alternatives):4} terms, whole expression): "
            + "  ".join(f"{k} {1e6 * v / len(folded):6.1f} µs" for k, v in times.items())
        )
    results: dict[str, list[object]] = {}

    def assess_all(gazetteer: Gazetteer, key: str) -> None:
        results[key] = [assess(gazetteer, model, title, summary) for title, summary in items]

    times = interleaved(
        rounds,
        {
            "flat": lambda: assess_all(plain, "flat"),
            "shared": lambda: assess_all(shared, "shared"),
        },
    )
    if results["flat"] != results["shared"]:
        raise SystemExit("bench: the shared alternations changed a relevance result")
    print(
        "  relevance assess per item: "
        + "  ".join(f"{k} {1e3 * v / len(items):.3f} ms" for k, v in times.items())
        + "  (equal results)"
    )


if __name__ == "__main__":
    main()
