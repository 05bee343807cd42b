"""What each part of relevance v2 does under cross-validation: leave-one-change-out ablations.

For the labelled relevance files (default: dev.jsonl, dev2.jsonl, dev_es.jsonl of the shared
eval folder) it embeds every item once with the default encoder (cached under CACHE, default
/tmp/monitor-relevance-cv, keyed by the texts), takes each item's nearest-seed similarity, and
prints F1 / precision / recall overall, on clear items and per language under random stratified
5-fold CV and leave-one-source-out CV (sources from `monitor.evaluation.source_group`), for the
shipped v2 tagger and for v2 without one change at a time. Each held-out item is decided by a
model fitted without it, cut at a threshold chosen by inner folds without it, exactly as
`monitor eval fit-relevance` reports it.

Run: .venv/bin/python bench/relevance_cv.py [--files F...] [--cache DIR] [--only NAME...]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import monitor.calibrate as calibrate
import monitor.relevance as relevance
from monitor.calibrate import score_predictions
from monitor.embed import USE_MULTILINGUAL, open_embedder
from monitor.evaluation import read_jsonl, source_group
from monitor.gazetteer import Gazetteer, load_gazetteer
from monitor.relevance_files import load_seed_index
from monitor.tagging import embedding_text

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "eval" / "relevance"
GAZETTEER = ROOT / "config" / "gazetteer"
SEEDS = ROOT / "config" / "seeds" / "russia-latam"
V1 = "eecb4b8~1"  # the commit before relevance v2: its gazetteer files are the v1 vocabulary
V2_0 = "83d9169"  # the commit before relevance v2.1: its gazetteer files are the v2.0 vocabulary
V2_2 = "d51065e"  # the commit before relevance v2.3: its gazetteer files are the v2.2 vocabulary
NEVER = re.compile(r"(?!x)x")
L2 = calibrate.RELEVANCE_L2


def similarities(records: Sequence[dict[str, Any]], cache: Path) -> list[float]:
    texts = [
        embedding_text(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records
    ]
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"similarity-{key}.npy"
    if not path.exists():
        embedder = open_embedder(USE_MULTILINGUAL)
        nearest = load_seed_index(SEEDS, embedder, cache).nearest(embedder.embed(texts))
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, np.array([n.similarity if n else 0.0 for n in nearest]))
    return [float(s) for s in np.load(path)]


def v1_file(name: str, commit: str = V1) -> str:
    command = ["git", "-C", str(ROOT), "show", f"{commit}:config/gazetteer/{name}"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


V21_SECTIONS = ("sports", "traps", "relation", "incidental")


def v20_vocabulary(folder: Path) -> None:
    """The v2.0 Russian actors and sports, traps, relation and incidental terms (v2.1 without
    its vocabulary: sports homonyms, Cuban-crisis traps, officials by role, companies, church)."""
    (folder / "russia.toml").write_text(v1_file("russia.toml", V2_0))
    path = folder / "context.toml"
    text, old = path.read_text(), v1_file("context.toml", V2_0)
    for section in V21_SECTIONS:
        pattern = rf"\[{section}\].*?\n\]"
        found = re.search(pattern, old, re.S)
        assert found is not None
        kept = found.group(0)
        text = re.sub(pattern, lambda _, kept=kept: kept, text, count=1, flags=re.S)
    path.write_text(text)


def v22_section(section: str, name: str = "context.toml") -> Callable[[Path], None]:
    """The gazetteer with one section of `name` as v2.2 had it (v2.3 without that change)."""

    def edit(folder: Path) -> None:
        path = folder / name
        pattern = rf"\[{section}\].*?\n\]"
        found = re.search(pattern, v1_file(name, V2_2), re.S)
        assert found is not None
        kept = found.group(0)
        path.write_text(re.sub(pattern, lambda _: kept, path.read_text(), count=1, flags=re.S))

    return edit


def gazetteer_with(edit: Callable[[Path], None]) -> Gazetteer:
    folder = Path(tempfile.mkdtemp(prefix="gazetteer-"))
    for path in GAZETTEER.glob("*.toml"):
        shutil.copy(path, folder / path.name)
    edit(folder)
    return load_gazetteer(folder)


def emptied(section: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / "context.toml"
        pattern = rf"(\[{section}\][^\n]*\n(?:#[^\n]*\n)*terms = \[).*?(\])"
        path.write_text(re.sub(pattern, r"\1\2", path.read_text(), flags=re.S))

    return edit


def v1_traps(folder: Path) -> None:
    path = folder / "context.toml"
    old = re.search(r"\[traps\].*?\n\]", v1_file("context.toml"), re.S)
    assert old is not None
    text = re.sub(
        r"\[traps\].*?\n\]", lambda _: old.group(0), path.read_text(), count=1, flags=re.S
    )
    path.write_text(text)


def v1_russia(folder: Path) -> None:
    (folder / "russia.toml").write_text(v1_file("russia.toml"))


def whole_text(gazetteer: Gazetteer, title: str, summary: str) -> list[tuple[str, str]]:
    return [(title, summary)]


# name → (gazetteer edit or None, features dropped, read bulletins whole)
ABLATIONS: dict[str, tuple[Callable[[Path], None] | None, tuple[str, ...], bool]] = {
    "v2 as shipped": (None, (), False),
    "- bulletins judged line by line": (None, (), True),
    "- bulletin feature": (None, ("bulletin",), False),
    "- source voice": (emptied("source_voice"), ("source_voice",), False),
    "- officials by role, RT in the region": (v1_russia, (), False),
    "- time zones and homonyms (traps)": (v1_traps, (), False),
    "- Ukraine-war stances": (
        None,
        ("ukraine_war", "latam_on_ukraine", "latam_on_ukraine_with_russia"),
        False,
    ),
    "- country lists and contrasts": (None, ("country_list", "contrast"), False),
    "- Snowden, mercenaries, incidental, experts": (
        None,
        ("snowden", "mercenary", "incidental", "expert"),
        False,
    ),
    "- v2.1 Latin American war stance": (None, ("latam_war_stance",), False),
    "- v2.1 comma lists": (None, ("comma_list",), False),
    "- v2.1 lists without actor or relation": (None, ("listed_without_actor",), False),
    "- v2.1 flag runs as lists": (None, (), False),
    "- v2.1 press reviews split into stories": (None, (), False),
    "- v2.1 vocabulary (sports, traps, roles, firms)": (v20_vocabulary, (), False),
    "- v2.2 BRICS sideline meetings": (emptied("sidelines"), ("brics_sidelines",), False),
    "- v2.2 counted countries": (None, ("counted_countries",), False),
    "- v2.3 activists as private persons": (v22_section("incidental"), (), False),
    "- v2.3 drills, exercises, talks as relations": (v22_section("relation"), (), False),
    "- v2.3 amistoso, mundial only as a match": (v22_section("sports"), (), False),
    "- v2.3 other continents as foreign terms": (v22_section("foreign"), (), False),
    "- v2.3 Eurasian Economic Union as Russia": (v22_section("state", "russia.toml"), (), False),
    "- v2.3 hashtags split into words": (None, (), False),
    "- v2.3 Snowden's route": (emptied("route"), ("snowden_route",), False),
    "- v2.3 BRICS gathering held, its outcome": (v22_section("brics_joint"), (), False),
}
# name → (module attribute of monitor.relevance, value it takes for the ablation)
PATCHES: dict[str, tuple[str, object]] = {
    "- v2.1 flag runs as lists": ("FLAG_RUN", NEVER),
    "- v2.1 press reviews split into stories": ("TITLE_CLAUSES", NEVER),
    "- v2.3 hashtags split into words": ("HASHTAG", NEVER),
}


def figures(records: Sequence[dict[str, Any]], predicted: np.ndarray) -> str:
    actual = np.array([r["label"] == 1 for r in records])
    clear = np.array([not r.get("ambiguous") for r in records])
    languages = np.array([str(r.get("lang")) for r in records])
    overall = score_predictions(list(predicted), list(actual))
    line = f"F1 {overall.f1:.3f} P {overall.precision:.3f} R {overall.recall:.3f}"
    line += f" clear {score_predictions(list(predicted[clear]), list(actual[clear])).f1:.3f}"
    for language in ("en", "es", "pt", "ru"):
        chosen = languages == language
        line += (
            f" {language} {score_predictions(list(predicted[chosen]), list(actual[chosen])).f1:.3f}"
        )
    return line


def run(name: str, records: Sequence[dict[str, Any]], sims: Sequence[float]) -> None:
    edit, dropped, whole = ABLATIONS[name]
    gazetteer = gazetteer_with(edit) if edit else load_gazetteer(GAZETTEER)
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    parts_of = calibrate.roundup_parts
    calibrate.roundup_parts = whole_text if whole else parts_of  # type: ignore[assignment]
    attribute, value = PATCHES.get(name, ("", None))
    shipped = getattr(relevance, attribute) if attribute else None
    if attribute:
        setattr(relevance, attribute, value)
    try:
        parts = calibrate.relevance_parts(gazetteer, items, sims)
    finally:
        calibrate.roundup_parts = parts_of
        if attribute:
            setattr(relevance, attribute, shipped)
    keep = [i for i, feature in enumerate(relevance.FEATURES) if feature not in dropped]
    parts = [p[:, keep] for p in parts]
    labels = np.array([r["label"] == 1 for r in records])
    groups = [source_group(r) for r in records]
    random = calibrate.held_out_decisions(
        parts, labels, calibrate.stratified_folds(labels, 5, 0), L2
    )
    by_source = calibrate.held_out_decisions(parts, labels, calibrate.group_folds(groups), L2)
    print(f"{name:45} random  {figures(records, random)}", flush=True)
    print(f"{'':45} LOSO    {figures(records, by_source)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = [SHARED / n for n in ("dev.jsonl", "dev2.jsonl", "dev_es.jsonl")]
    parser.add_argument("--files", nargs="+", type=Path, default=default)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/monitor-relevance-cv"))
    parser.add_argument("--only", nargs="+", choices=list(ABLATIONS), default=list(ABLATIONS))
    args = parser.parse_args()
    records = [r for f in args.files for r in read_jsonl(f) if r.get("label") in (0, 1)]
    sims = similarities(records, args.cache)
    print(f"{len(records)} labelled items, {len({source_group(r) for r in records})} sources")
    for name in args.only:
        run(name, records, sims)


if __name__ == "__main__":
    main()
