"""Cost of the same-event decision on the hot path: `pair_features` and
`same_event_probability` are called once per candidate in `assign_events`.

Times CALLS calls of each over pairs of evidence gathered once from crafted headlines (the
evidence is cached by the story window, so its gathering is not part of a candidate's cost),
with the shipped weights of config/stories.toml, best of REPEATS runs; prints µs per call and
the machine's load.

Run: .venv/bin/python bench/same_story_speed.py [--calls N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from monitor.events import gather_evidence, pair_features, same_event_probability
from monitor.story_files import load_story_models

CONFIG = Path(__file__).resolve().parents[1] / "config" / "stories.toml"
REPEATS = 5
HEADLINES = (
    ("Putin hosts Venezuela's Maduro in Moscow", "The two leaders signed 12 agreements on oil."),
    ("Maduro meets Chinese delegation in Caracas", "A delegation of 40 officials arrived Monday."),
    ("Путин принял Мадуро в Москве", "Лидеры подписали 12 соглашений о нефти."),
    ("Cuba y Rusia firman memorando de turismo", "El acuerdo prevé 200.000 turistas en 2025."),
    ("Russian warships dock in Havana", "Three vessels arrived on June 12 for a five-day visit."),
    ("Brasil e Rússia discutem fertilizantes", "O ministro disse que 85% vêm do exterior."),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000)
    args = parser.parse_args()
    models = load_story_models(CONFIG, 48.0, 168.0)
    evidence = [gather_evidence(t, s) for t, s in HEADLINES]
    pairs = [(a, b) for a in evidence for b in evidence]
    work = [
        (0.3 + 0.6 * (i % 7) / 6, float(i % 60), *pairs[i % len(pairs)]) for i in range(args.calls)
    ]
    print(f"{args.calls} calls; load {os.getloadavg()}")
    for name, call in (
        ("pair_features", lambda c, g, a, b: pair_features(c, g, a, b)),
        (
            "same_event_probability",
            lambda c, g, a, b: same_event_probability(models.event, c, g, a, b),
        ),
    ):
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            for cosine, gap, a, b in work:
                call(cosine, gap, a, b)
            best = min(best, time.perf_counter() - start)
        print(f"{name:<24} {best / args.calls * 1e6:6.2f} µs/call")


if __name__ == "__main__":
    main()
