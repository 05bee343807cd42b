"""`monitor same-story`, `monitor eval stories` and `monitor eval fit-same-event`: events and
threads on labelled files, no database needed.

numpy and the model load inside the commands, so that `monitor --help` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from monitor.cli.common import (
    OUTPUT_OPTION,
    config_option,
    echo_json,
    format_option,
    input_option,
    render_table,
    settings_for,
)
from monitor.cli.tagging import batches, eval_group, pair_similarities, write_lines

if TYPE_CHECKING:
    from monitor.config import Settings
    from monitor.events import LevelFit, SameEventModel, StoryModels

LEVEL_LABELS = (("event", "same_event"), ("thread", "same_thread"))


def models_for(settings: Settings, model_id: str) -> StoryModels:
    from monitor.story_files import story_models_for

    return story_models_for(settings.stories, model_id)


@click.command("same-story")
@config_option
@input_option("JSONL: {id, a: {title, text, lang?, published?}, b: {…}} per line.")
@OUTPUT_OPTION
@click.pass_context
def same_story(ctx: click.Context, input_path: Path, output: TextIO) -> None:
    """Decide whether two items report the same event and thread: {id, same_event, …}.

    Writes {id, same_event, same_thread, same_story (= same_event), similarity} per pair."""
    from monitor.events import decide_pair
    from monitor.runtime import open_embedder_for

    settings = settings_for(ctx)
    embedder = open_embedder_for(settings)
    models = models_for(settings, embedder.model_id)
    for batch in batches(input_path):
        similarities = pair_similarities(embedder, batch)
        decisions = [
            decide_pair(models, p, float(s)) for p, s in zip(batch, similarities, strict=True)
        ]
        write_lines(
            (
                {
                    "id": p.get("id"),
                    "same_event": d.same_event,
                    "same_thread": d.same_thread,
                    "same_story": d.same_event,
                    "similarity": round(d.similarity, 4),
                }
                for p, d in zip(batch, decisions, strict=True)
            ),
            output,
        )


def level_reports(
    settings: Settings, model_id: str, records: Sequence[Mapping[str, Any]], similarities: Any
) -> dict[str, Any]:
    """Precision, recall and F1 of both levels on the records labelled at each, overall and per
    origin (for `monitor eval same-story`)."""
    from monitor.calibrate import score_predictions
    from monitor.events import decide_pair

    models = models_for(settings, model_id)
    decisions = [
        decide_pair(models, r, float(s)) for r, s in zip(records, similarities, strict=True)
    ]
    report: dict[str, Any] = {}
    for level, label in LEVEL_LABELS:
        chosen = [
            (r, d)
            for r, d in zip(records, decisions, strict=True)
            if isinstance(r.get(label), bool)
        ]
        rows = {}
        for origin in ["all", *sorted({str(r.get("origin", "-")) for r, _ in chosen})]:
            members = [(r, d) for r, d in chosen if origin in ("all", str(r.get("origin", "-")))]
            s = score_predictions(
                [getattr(d, label) for _, d in members], [bool(r[label]) for r, _ in members]
            )
            rows[origin] = {"precision": s.precision, "recall": s.recall, "f1": s.f1}
            rows[origin]["pairs"] = len(members)
        report[level] = rows
    return report


def same_event_decisions(
    settings: Settings, model_id: str, records: Sequence[Mapping[str, Any]], similarities: Any
) -> list[bool]:
    """The same-event decision per pair (what `same_story` means)."""
    from monitor.events import decide_pair

    models = models_for(settings, model_id)
    return [
        decide_pair(models, r, float(s)).same_event
        for r, s in zip(records, similarities, strict=True)
    ]


def format_levels(levels: Mapping[str, Mapping[str, Mapping[str, float]]]) -> str:
    rows = [
        [level, origin, f"{v['precision']:.3f}", f"{v['recall']:.3f}", f"{v['f1']:.3f}", v["pairs"]]
        for level, by_origin in levels.items()
        for origin, v in by_origin.items()
    ]
    return render_table(["level", "origin", "precision", "recall", "F1", "pairs"], rows)


@eval_group.command("stories")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option("text", "json")
@click.pass_context
def eval_stories(ctx: click.Context, file: Path, output_format: str) -> None:
    """Replay FILE, a time-ordered stream of {id, title, text, lang, published, event?,
    thread?}, through the incremental event and thread assignment; print B-cubed precision,
    recall and F1 at each level FILE labels."""
    from datetime import timedelta

    from monitor.evaluation import read_jsonl
    from monitor.events import parse_published
    from monitor.runtime import open_embedder_for
    from monitor.story_stream import StreamItem, bcubed, replay_stream
    from monitor.tagging import embedding_text

    settings = settings_for(ctx)
    records = list(read_jsonl(file))
    if not records:
        raise click.UsageError(f"{file}: no item")
    items = [
        StreamItem(
            str(r.get("id")),
            str(r.get("title") or ""),
            str(r.get("text") or ""),
            parse_published(r.get("published")),
        )
        for r in records
    ]
    embedder = open_embedder_for(settings)
    vectors = embedder.embed([embedding_text(i.title, i.text) for i in items])
    window = timedelta(days=settings.stories.window_days)
    events, threads = replay_stream(items, vectors, models_for(settings, embedder.model_id), window)
    report: dict[str, Any] = {"items": len(items)}
    for level, predicted in (("event", events), ("thread", threads)):
        labelled = [
            (p, r[level])
            for p, r in zip(predicted, records, strict=True)
            if r.get(level) is not None
        ]
        if labelled:
            scores = bcubed([p for p, _ in labelled], [g for _, g in labelled])
            report[level] = {k: getattr(scores, k) for k in scores.__slots__}
    if output_format == "json":
        echo_json(report)
        return
    rows = [
        [level, v["precision"], v["recall"], v["f1"], v["items"], v["clusters"], v["gold_clusters"]]
        for level, v in report.items()
        if isinstance(v, dict)
    ]
    click.echo(render_table(["level", "B³ P", "B³ R", "B³ F1", "items", "found", "gold"], rows))


@eval_group.command("fit-same-event")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the weights here (default: print them only).",
)
@click.pass_context
def fit_same_event(ctx: click.Context, file: Path, output: Path | None) -> None:
    """Fit the same-event and same-thread weights on FILE's labelled pairs (`same_event`,
    `same_thread`, each side's `published`); print cross-validated precision, recall and F1 per
    level and origin, and per level at other cuts, with folds grouped so that pairs sharing an
    article are held out together; `--output` writes the weights (e.g. config/stories.toml)."""
    from monitor.evaluation import read_jsonl
    from monitor.events import StoryModels, fit_story_models
    from monitor.runtime import open_embedder_for
    from monitor.story_files import write_story_models

    settings = settings_for(ctx)
    pairs = [r for r in read_jsonl(file) if isinstance(r.get("a"), dict)]
    if not pairs:
        raise click.UsageError(f"{file}: no pair")
    embedder = open_embedder_for(settings)
    similarities = pair_similarities(embedder, pairs)
    stories = settings.stories
    fits = fit_story_models(
        pairs, [float(s) for s in similarities], stories.event_window_h, stories.window_days * 24.0
    )
    summary = describe_fits(fits)
    click.echo(summary)
    if output:
        comment = (
            f"Same-event and same-thread weights for {embedder.model_id}, fitted on {file.name}\n"
            "by `monitor eval fit-same-event`; cross-validated (5 folds x 10 repeats, grouped:\n"
            "pairs sharing an article are held out together):\n" + summary
        )
        models = StoryModels(fits["event"].model, fits["thread"].model)
        write_story_models(output, models, embedder.model_id, comment)
        click.echo(f"wrote {output}")


def describe_fits(fits: Mapping[str, LevelFit]) -> str:
    """Held-out figures per level and origin at the shipped cut, then each level's figures at
    other cuts (the precision a stricter cut buys) and its held-out log-loss."""
    rows = []
    for level, fit in fits.items():
        rows.append([level, "all", fit.precision, fit.recall, fit.f1, fit.pairs])
        rows += [[level, o, *v] for o, v in fit.by_origin.items()]
    table = render_table(["level", "origin", "P (CV)", "R (CV)", "F1 (CV)", "pairs"], rows)
    sweep = [
        [level, f"{cut:.2f}" + cut_marks(fit.model, cut), p, r, f1]
        for level, fit in fits.items()
        for cut, p, r, f1 in fit.sweep
    ]
    cuts = render_table(["level", "cut", "P (CV)", "R (CV)", "F1 (CV)"], sweep)
    losses = ", ".join(f"{level} {fit.log_loss}" for level, fit in fits.items())
    event_cut = fits["event"].model.cut_for_a_pair if "event" in fits else None
    decided = [
        f"\n{level} as decided (same event, or else same thread) {where}, CV grouped over "
        f"all pairs: P {p:.4f}  R {r:.4f}  F1 {f1:.4f}"
        for level, fit in fits.items()
        for where, figures in (
            ("on a stream, at the shipped cuts", fit.as_decided),
            (
                f"for a pair alone, at its cut {fit.model.cut_for_a_pair:.2f}"
                + (f" (event {event_cut:.2f})" if event_cut is not None else ""),
                fit.pair_decided,
            ),
        )
        if figures
        for p, r, f1 in [figures]
    ]
    marks = "(* the shipped cut, on a stream; p: the cut for a pair judged alone)"
    return f"{table}\n\n{cuts}\n{marks}  log-loss (CV): {losses}" + "".join(decided)


def cut_marks(model: SameEventModel, cut: float) -> str:
    return (" *" if cut == model.threshold else "") + (
        " p" if model.pair_threshold is not None and cut == model.pair_threshold else ""
    )


@click.command("thread")
@config_option
@click.argument("thread_id", type=click.IntRange(1))
@click.option("--story", "by_story", is_flag=True, help="THREAD_ID is a story's id: its thread.")
@format_option("table", "json")
@click.pass_context
def thread(ctx: click.Context, thread_id: int, by_story: bool, output_format: str) -> None:
    """A developing story (thread) with its events, oldest first."""
    from monitor.cli.common import open_database, short_time
    from monitor.errors import MonitorError
    from monitor.storage.events import get_story_thread, get_thread

    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        found = (get_story_thread if by_story else get_thread)(session, thread_id)
    if found is None:
        raise MonitorError(f"no such {'story' if by_story else 'thread'}: {thread_id}")
    if output_format == "json":
        echo_json(found)
        return
    click.echo(
        f"thread {found['id']}: {found['event_count']} events, {found['article_count']} "
        f"articles, {found['outlets_count']} outlets — {found['title']}"
    )
    rows = [
        [
            e["id"],
            e["article_count"],
            e["outlets_count"],
            short_time(e["first_seen_at"]),
            e["title"][:70],
        ]
        for e in found["events"]
    ]
    click.echo(render_table(["story", "articles", "outlets", "first seen (UTC)", "title"], rows))
