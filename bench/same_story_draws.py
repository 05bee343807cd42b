"""How much the draw of the folds alone moves the same-event and same-thread figures of
`monitor eval fit-same-event`: the dev pairs are embedded once, then both levels are fitted
DRAWS times, each under its own grouped cross-validation (5 folds x 10 repeats, pairs sharing
an article held out together; draw d uses the seeds 10d .. 10d+9, draw 0 is the command's).

Per draw and as the mean over the draws it prints held-out precision, recall and F1 of the
event level at the stream's cut and at the cut for a pair judged alone (the one
`monitor same-story` uses), its held-out log-loss, the thread model alone at its cut, and
the thread decision as made on a stream and for a pair alone.

Run: .venv/bin/python bench/same_story_draws.py [--pairs FILE] [--draws N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from monitor.cli.tagging import pair_similarities
from monitor.config import Settings
from monitor.events import CV_REPEATS, LevelFit, fit_story_models
from monitor.runtime import open_embedder_for

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dedup"
COLUMNS = (
    "event@stream",
    "event@pair",
    "event LL",
    "thread alone",
    "thread as decided, stream",
    "thread as decided, pair",
)


def figures(fits: dict[str, LevelFit]) -> list[tuple[float, ...]]:
    """One draw's figures, in the order of COLUMNS."""
    event, thread = fits["event"], fits["thread"]
    at_pair = next(s for s in event.sweep if s[0] == event.model.cut_for_a_pair)
    return [
        (event.precision, event.recall, event.f1),
        at_pair[1:],
        (event.log_loss,),
        (thread.precision, thread.recall, thread.f1),
        thread.as_decided or (),
        thread.pair_decided or (),
    ]


def show(name: str, row: list[tuple[float, ...]]) -> None:
    cells = ["/".join(f"{v:.3f}" if v > 0.5 else f"{v:.4f}" for v in cell) for cell in row]
    print(f"{name:<6} " + "  ".join(f"{c:>{len(h)}}" for c, h in zip(cells, COLUMNS, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, default=SHARED / "pairs_dev.jsonl")
    parser.add_argument("--draws", type=int, default=10)
    args = parser.parse_args()
    pairs = [json.loads(line) for line in args.pairs.open(encoding="utf-8") if line.strip()]
    settings = Settings()
    embedder = open_embedder_for(settings)
    cosines = [float(c) for c in pair_similarities(embedder, pairs)]
    windows = (settings.stories.event_window_h, settings.stories.window_days * 24.0)
    print(f"{embedder.model_id}, {len(pairs)} pairs; {platform.machine()}, load {os.getloadavg()}")
    print("draw   " + "  ".join(COLUMNS) + "   (P/R/F1, held out)")
    rows = []
    for draw in range(args.draws):
        fits = fit_story_models(pairs, cosines, *windows, first_seed=draw * CV_REPEATS)
        rows.append(figures(fits))
        show(str(draw), rows[-1])
    mean = [
        tuple(sum(r[c][k] for r in rows) / len(rows) for k in range(len(rows[0][c])))
        for c in range(len(COLUMNS))
    ]
    show("mean", mean)
    f1s = [r[1][2] for r in rows]
    print(f"event F1 at the pair cut over the draws: {min(f1s):.3f}-{max(f1s):.3f}")


if __name__ == "__main__":
    main()
