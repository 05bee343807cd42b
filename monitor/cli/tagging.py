"""`monitor tag`, `monitor same-story`, `monitor eval …`, `monitor seeds …`: no database needed."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click
import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from monitor.calibrate import (
    best_threshold,
    calibrate_threshold,
    cross_validated_probabilities,
    fit_logistic,
)
from monitor.cli.common import (
    OUTPUT_OPTION,
    ProgressBar,
    config_option,
    echo_json,
    format_option,
    input_option,
    open_database,
    render_table,
    settings_for,
)
from monitor.config import Settings
from monitor.embed import Embedder, open_embedder
from monitor.evaluation import evaluate, format_report, read_jsonl
from monitor.gazetteer import load_gazetteer
from monitor.ingest import utc_now
from monitor.process import Processor
from monitor.relevance import FEATURES, RelevanceModel, extract_features, gather_evidence
from monitor.seeds import list_seed_files, read_seed
from monitor.stories import is_same_story
from monitor.tagging import (
    Tagger,
    build_seed_index,
    embedding_text,
    open_tagger,
    relevance_record,
    write_relevance_model,
)

BATCH_ITEMS = 256
FIT_L2 = 0.33


def embedder_for(settings: Settings) -> Embedder:
    return open_embedder(
        settings.embedding.model, settings.embedding.batch_size, settings.embedding.threads
    )


def tagger_for(settings: Settings) -> Tagger:
    relevance = settings.relevance
    return open_tagger(
        relevance.gazetteer_dir,
        relevance.model_file,
        relevance.seeds_dir,
        embedder_for(settings),
        settings.embedding.cache_dir,
    )


def open_processor(settings: Settings, sessions: sessionmaker[Session]) -> Processor:
    return Processor(sessions, tagger_for(settings), settings.stories, utc_now, settings.alerts)


def write_lines(records: Iterable[Mapping[str, object]], output: TextIO) -> None:
    for record in records:
        output.write(json.dumps(record, ensure_ascii=False) + "\n")


def batches(path: Path) -> Iterable[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for record in read_jsonl(path):
        batch.append(record)
        if len(batch) == BATCH_ITEMS:
            yield batch
            batch = []
    if batch:
        yield batch


@click.command()
@config_option
@input_option("JSONL: {id, title, summary, lang?} per line.")
@OUTPUT_OPTION
@click.pass_context
def tag(ctx: click.Context, input_path: Path, output: TextIO) -> None:
    """Tag items for Russia–Latin America relevance.

    Writes {id, relevant, score, countries, topics, reasons} per input line.
    """
    tagger = tagger_for(settings_for(ctx))
    for batch in batches(input_path):
        items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in batch]
        write_lines(
            (
                relevance_record(r.get("id"), rel)
                for r, rel in zip(batch, tagger.tag(items), strict=True)
            ),
            output,
        )


def pair_similarities(embedder: Embedder, pairs: list[dict[str, Any]]) -> np.ndarray:
    def side(pair: dict[str, Any], key: str) -> str:
        value = pair.get(key) or {}
        return embedding_text(str(value.get("title") or ""), str(value.get("text") or ""))

    a = embedder.embed([side(p, "a") for p in pairs])
    b = embedder.embed([side(p, "b") for p in pairs])
    return (a * b).sum(axis=1)  # type: ignore[no-any-return]


@click.command("same-story")
@config_option
@input_option("JSONL: {id, a: {title, text, lang?}, b: {…}} per line.")
@OUTPUT_OPTION
@click.pass_context
def same_story(ctx: click.Context, input_path: Path, output: TextIO) -> None:
    """Decide whether two items report the same story: {id, same_story, similarity}."""
    settings = settings_for(ctx)
    embedder = embedder_for(settings)
    for batch in batches(input_path):
        similarities = pair_similarities(embedder, batch)
        write_lines(
            (
                {
                    "id": p.get("id"),
                    "same_story": is_same_story(float(s), settings.stories.same_story_threshold),
                    "similarity": round(float(s), 4),
                }
                for p, s in zip(batch, similarities, strict=True)
            ),
            output,
        )


@click.group("eval")
def eval_group() -> None:
    """Measure tagging and same-story decisions on labelled files."""


@eval_group.command("relevance")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option("text", "json")
@click.pass_context
def eval_relevance(ctx: click.Context, file: Path, output_format: str) -> None:
    """Precision, recall and F1 of `tag` on FILE (`label` 0/1), per language, and the errors."""
    tagger = tagger_for(settings_for(ctx))
    records = [r for r in read_jsonl(file) if r.get("label") in (0, 1)]
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    predicted = [rel.relevant for rel in tagger.tag(items)]
    report = evaluate(
        records,
        predicted,
        [r["label"] == 1 for r in records],
        {"language": lambda r: str(r.get("lang")), "kind": lambda r: str(r.get("kind", "-"))},
        lambda r: str(r.get("title")),
    )
    report["scorer_version"] = tagger.version
    echo_json(report) if output_format == "json" else click.echo(format_report(report))


@eval_group.command("same-story")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@format_option("text", "json")
@click.pass_context
def eval_same_story(ctx: click.Context, file: Path, output_format: str) -> None:
    """Precision, recall and F1 of `same-story` on FILE (`same_story` true/false; null skipped).

    Also prints the F1-best threshold on FILE, the cross-validated F1 of choosing a threshold that
    way, and the AUC: label a few hundred of your own pairs to calibrate
    `stories.same_story_threshold` for your feeds.
    """
    settings = settings_for(ctx)
    threshold = settings.stories.same_story_threshold
    records = [r for r in read_jsonl(file) if isinstance(r.get("same_story"), bool)]
    if not records:
        raise click.UsageError(f"{file}: no pair with a true/false `same_story` label")
    similarities = pair_similarities(embedder_for(settings), records)
    actual = np.array([r["same_story"] for r in records], dtype=bool)
    report = evaluate(
        records,
        [is_same_story(float(s), threshold) for s in similarities],
        list(actual),
        {
            "origin": lambda r: str(r.get("origin", "-")),
            "language": lambda r: f"{r['a'].get('lang')}-{r['b'].get('lang')}",
        },
        lambda r: f"{r['a'].get('title')} || {r['b'].get('title')}",
    )
    report["threshold"] = threshold
    report["calibration"] = asdict(calibrate_threshold(similarities.astype(np.float64), actual))
    if output_format == "json":
        echo_json(report)
    else:
        click.echo(format_report(report))
        click.echo(format_calibration(threshold, report["calibration"]))


def format_calibration(threshold: float, calibration: dict[str, float | None]) -> str:
    auc = calibration["auc"]
    return (
        f"threshold {threshold} (stories.same_story_threshold); "
        f"best on this file {calibration['best_threshold']} (F1 {calibration['f1_at_best']:.3f}); "
        f"cross-validated F1 of a recalibrated threshold {calibration['cross_validated_f1']:.3f}; "
        f"AUC {'n/a (one class only)' if auc is None else f'{auc:.3f}'}"
    )


@eval_group.command("fit-relevance")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the weights here (default: the configured relevance.model_file).",
)
@click.pass_context
def fit_relevance(ctx: click.Context, file: Path, output: Path | None) -> None:
    """Calibrate the relevance weights and threshold on a labelled FILE (your own data, or dev).

    Prints the cross-validated F1, which estimates how the weights do on unseen items.
    """
    settings = settings_for(ctx)
    embedder = embedder_for(settings)
    gazetteer = load_gazetteer(settings.relevance.gazetteer_dir)
    seeds = build_seed_index(settings.relevance.seeds_dir, embedder, settings.embedding.cache_dir)
    records = [r for r in read_jsonl(file) if r.get("label") in (0, 1)]
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    nearest = seeds.nearest(embedder.embed([embedding_text(t, s) for t, s in items]))
    matrix = np.array(
        [
            [
                extract_features(gather_evidence(gazetteer, t, s), n.similarity if n else 0.0)[f]
                for f in FEATURES
            ]
            for (t, s), n in zip(items, nearest, strict=True)
        ]
    )
    labels = np.array([r["label"] == 1 for r in records])
    probabilities = cross_validated_probabilities(matrix, labels, FIT_L2)
    threshold = best_threshold(probabilities, labels)
    weights, bias = fit_logistic(matrix, labels, FIT_L2)
    model = RelevanceModel(dict(zip(FEATURES, map(float, weights), strict=True)), bias, threshold)
    cv = evaluate(
        records,
        list(probabilities >= threshold),
        list(labels),
        {"language": lambda r: str(r.get("lang"))},
        lambda r: str(r.get("title")),
    )
    target = output or settings.relevance.model_file
    write_relevance_model(
        target,
        model,
        (
            f"Relevance weights over the features of monitor/relevance.py, calibrated by\n"
            f"`monitor eval fit-relevance {file.name}` on {len(records)} labelled items "
            f"(L2 {FIT_L2}).\n"
            f"Cross-validated F1 {cv['overall']['f1']:.3f} at threshold {threshold:.3f}."
        ),
    )
    click.echo(
        f"wrote {target}: cross-validated F1 {cv['overall']['f1']:.3f} at threshold {threshold:.3f}"
    )
    for language, scores in cv["by_language"].items():
        click.echo(f"  {language}: F1 {scores['f1']:.3f} (n={scores['n']})")


@click.group()
def seeds() -> None:
    """List, add and remove seed articles (the reference corpus)."""


@seeds.command("list")
@config_option
@format_option("table", "json")
@click.pass_context
def seeds_list(ctx: click.Context, output_format: str) -> None:
    """Show each seed with its passage count and content hash."""
    directory = settings_for(ctx).relevance.seeds_dir
    rows = [read_seed(path) for path in list_seed_files(directory)]
    if output_format == "json":
        echo_json([{"name": s.name, "passages": len(s.passages), "sha256": s.digest} for s in rows])
        return
    click.echo(
        render_table(
            ["name", "passages", "sha256"], [[s.name, len(s.passages), s.digest[:16]] for s in rows]
        )
    )


@seeds.command("add")
@config_option
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_context
def seeds_add(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Copy plain-text article FILES into the seed folder (vectors are rebuilt on next use)."""
    directory = settings_for(ctx).relevance.seeds_dir
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        if not read_seed(file).passages:
            raise click.ClickException(f"{file}: no article text left after cleaning")
        target = directory / (file.stem + ".txt")
        if target.exists():
            raise click.ClickException(f"a seed named {target.stem} exists already")
        shutil.copyfile(file, target)
        click.echo(f"added {target.stem}")


@seeds.command("remove")
@config_option
@click.argument("name")
@click.pass_context
def seeds_remove(ctx: click.Context, name: str) -> None:
    """Remove the seed NAME (as `seeds list` shows it)."""
    target = settings_for(ctx).relevance.seeds_dir / f"{name}.txt"
    if not target.exists():
        raise click.ClickException(f"no such seed: {name}")
    target.unlink()
    click.echo(f"removed {name}", file=sys.stdout)


@click.command()
@config_option
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Only articles first seen on or after this date (UTC).",
)
@click.pass_context
def rescore(ctx: click.Context, since: datetime | None) -> None:
    """Recompute stored matches from stored vectors after seeds, gazetteer or weights change."""
    settings = settings_for(ctx)
    with open_database(settings) as sessions:
        processor = open_processor(settings, sessions)
        bar = ProgressBar("rescoring")
        count = processor.rescore(since.replace(tzinfo=UTC) if since else None, bar.update)
        bar.finish()
    click.echo(f"rescored {count} articles with scorer {processor.tagger.version}")
