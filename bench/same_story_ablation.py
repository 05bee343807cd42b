"""What each same-event feature adds, under the grouped cross-validation of
`monitor eval fit-same-event` (5 folds x 10 repeats; pairs sharing an article held out
together): the dev pairs are embedded once, then both levels are refitted on growing feature
sets, from the cosine alone (inside the time gates) to all of FEATURES.

Per set and level it prints held-out precision, recall and F1 at the shipped cut, the event
level's F1 at the cut the fit chooses for a pair judged alone (what `monitor same-story`
decides), the best F1 over the swept cuts with its cut, and the held-out log-loss (smoother than F1 at one cut: a
few hundred pairs move F1 by 0.003 a pair); for the thread level also the decision as it is
made (same event, or else same thread), on folds grouped over all pairs. Another draw of the
folds alone moves F1 by up to 0.01, so read small differences as noise.

Run: .venv/bin/python bench/same_story_ablation.py [--pairs FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

from monitor.cli.tagging import pair_similarities
from monitor.config import Settings
from monitor.events import FEATURES, fit_story_models
from monitor.runtime import open_embedder_for

SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dedup"
TIME_AND_EVIDENCE = ("cosine", "gap_days")
V1_EVIDENCE = (
    *TIME_AND_EVIDENCE,
    "names_jaccard",
    "names_conflict",
    "numbers_shared",
    "numbers_conflict",
)
FEATURE_SETS = (
    ("cosine (time-gated)", ("cosine",)),
    ("+ time gap", TIME_AND_EVIDENCE),
    ("+ names, numbers", V1_EVIDENCE),
    ("+ title words", (*V1_EVIDENCE, "title_words_jaccard")),
    ("+ summary words", (*V1_EVIDENCE, "title_words_jaccard", "words_overlap")),
    ("+ cross-language", tuple(f for f in FEATURES if f != "cosine_squared")),
    ("+ cosine squared (all)", FEATURES),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=Path, default=SHARED / "pairs_dev.jsonl")
    args = parser.parse_args()
    pairs = [json.loads(line) for line in args.pairs.open(encoding="utf-8") if line.strip()]
    settings = Settings()
    embedder = open_embedder_for(settings)
    cosines = [float(c) for c in pair_similarities(embedder, pairs)]
    windows = (settings.stories.event_window_h, settings.stories.window_days * 24.0)
    print(f"{embedder.model_id}, {len(pairs)} pairs; {platform.machine()}, load {os.getloadavg()}")
    print(
        f"{'features':<24} {'level':<7} {'P':>6} {'R':>6} {'F1':>6}  {'pair F1 @cut':>14}"
        f"  {'best F1 @cut':>14}  LL      as decided P/R/F1"
    )
    for name, features in FEATURE_SETS:
        fits = fit_story_models(pairs, cosines, *windows, features)
        for level, fit in fits.items():
            best_f1, best_cut = max((s[3], s[0]) for s in fit.sweep)
            decided = " ".join(f"{v:.3f}" for v in fit.as_decided or ())
            pair_cut = fit.model.cut_for_a_pair
            pair = f"{next(s[3] for s in fit.sweep if s[0] == pair_cut):8.3f} @{pair_cut:.2f}"
            print(
                f"{name:<24} {level:<7} {fit.precision:6.3f} {fit.recall:6.3f} {fit.f1:6.3f}"
                f"  {pair if level == 'event' else '':>14}"
                f"  {best_f1:8.3f} @{best_cut:.2f}  {fit.log_loss:.4f}  {decided}"
            )


if __name__ == "__main__":
    main()
