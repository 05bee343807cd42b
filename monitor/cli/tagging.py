"""`monitor tag`, `monitor eval …`, `monitor seeds …`: no database needed (`monitor same-story`,
`monitor eval stories` and `monitor eval fit-same-event` are in monitor/cli/stories_eval.py).

numpy, the model and the tagger load inside the commands that use them, so that `monitor --help`
stays fast.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

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

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from monitor.calibrate import RelevanceFit
    from monitor.config import Settings
    from monitor.embed import Embedder

BATCH_ITEMS = 256


def write_lines(records: Iterable[Mapping[str, object]], output: TextIO) -> None:
    for record in records:
        output.write(json.dumps(record, ensure_ascii=False) + "\n")


def batches(path: Path) -> Iterable[list[dict[str, Any]]]:
    from monitor.evaluation import read_jsonl

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
    from monitor.runtime import open_embedder_for, open_tagger_for
    from monitor.tagging import relevance_record

    settings = settings_for(ctx)
    tagger = open_tagger_for(settings, open_embedder_for(settings))
    for batch in batches(input_path):
        items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in batch]
        write_lines(
            (
                relevance_record(r.get("id"), rel)
                for r, rel in zip(batch, tagger.tag(items), strict=True)
            ),
            output,
        )


def pair_similarities(embedder: Embedder, pairs: list[dict[str, Any]]) -> npt.NDArray[np.float32]:
    from monitor.tagging import embedding_text

    def side(pair: dict[str, Any], key: str) -> str:
        value = pair.get(key) or {}
        return embedding_text(str(value.get("title") or ""), str(value.get("text") or ""))

    a = embedder.embed([side(p, "a") for p in pairs])
    b = embedder.embed([side(p, "b") for p in pairs])
    return (a * b).sum(axis=1)  # type: ignore[no-any-return]


@click.group("eval")
def eval_group() -> None:
    """Measure tagging and same-story decisions on labelled files."""


@eval_group.command("relevance")
@config_option
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--feedback",
    "use_feedback",
    is_flag=True,
    help="Score on the judgements stored in the database too (the latest per article).",
)
@format_option("text", "json")
@click.pass_context
def eval_relevance(
    ctx: click.Context, file: Path | None, use_feedback: bool, output_format: str
) -> None:
    """Precision, recall and F1 of `tag` on FILE (`label` 0/1) and/or the stored judgements
    (`--feedback`), per language, and the errors."""
    from monitor.cli.feedback_eval import RELEVANCE, headline, labelled_inputs
    from monitor.evaluation import evaluate, format_report
    from monitor.runtime import open_embedder_for, open_tagger_for

    settings = settings_for(ctx)
    inputs = labelled_inputs(settings, file, use_feedback, RELEVANCE)
    records = [r for r in inputs if r.get("label") in (0, 1)]
    tagger = open_tagger_for(settings, open_embedder_for(settings))
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    predicted = [rel.relevant for rel in tagger.tag(items)]
    report = evaluate(
        records,
        predicted,
        [r["label"] == 1 for r in records],
        {"language": lambda r: str(r.get("lang")), "kind": lambda r: str(r.get("kind", "-"))},
        lambda r: str(r.get("title")),
    )
    report.update(headline(report), scorer_version=tagger.version)
    echo_json(report) if output_format == "json" else click.echo(format_report(report))


@eval_group.command("same-story")
@config_option
@click.argument(
    "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--feedback",
    "use_feedback",
    is_flag=True,
    help="Score on the stored same-story judgements too (the latest per article and story).",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Write the calibrated threshold into the settings file in use (keeping a backup).",
)
@format_option("text", "json")
@click.pass_context
def eval_same_story(
    ctx: click.Context, file: Path | None, use_feedback: bool, apply: bool, output_format: str
) -> None:
    """Precision, recall and F1 of `same-story` on FILE (`same_story` true/false; null skipped)
    and/or the stored judgements (`--feedback`).

    Also prints the F1-best threshold, the cross-validated F1 of choosing a threshold that way,
    and the AUC: label a few hundred of your own pairs (or judge story members) to calibrate
    `stories.same_story_threshold` for your feeds; `--apply` writes it to the settings file.
    """
    import numpy as np

    from monitor.cli.feedback_eval import (
        SAME_STORY,
        TOO_FEW_PAIRS,
        apply_threshold,
        calibration_of,
        headline,
        labelled_inputs,
    )
    from monitor.cli.stories_eval import format_levels, level_reports, same_event_decisions
    from monitor.clock import utc_now
    from monitor.evaluation import evaluate, format_report
    from monitor.runtime import open_embedder_for

    settings = settings_for(ctx)
    threshold = settings.stories.same_story_threshold
    inputs = labelled_inputs(settings, file, use_feedback, SAME_STORY)
    records = [r for r in inputs if isinstance(r.get("same_story"), bool)]
    if not records:
        raise click.UsageError(f"{file}: no pair with a true/false `same_story` label")
    embedder = open_embedder_for(settings)
    similarities = pair_similarities(embedder, records)
    actual = np.array([r["same_story"] for r in records], dtype=bool)
    report = evaluate(
        records,
        same_event_decisions(settings, embedder.model_id, records, similarities),
        list(actual),
        {
            "origin": lambda r: str(r.get("origin", "-")),
            "language": lambda r: f"{r['a'].get('lang')}-{r['b'].get('lang')}",
        },
        lambda r: f"{r['a'].get('title')} || {r['b'].get('title')}",
    )
    report.update(headline(report), threshold=threshold)
    report["levels"] = level_reports(settings, embedder.model_id, records, similarities)
    report["calibration"] = calibration_of(similarities.astype(np.float64), actual)
    if apply:
        config_path = ctx.find_root().meta.get("monitor.config_in_use")
        stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
        report["applied"] = apply_threshold(config_path, report["calibration"], settings, stamp)
    if output_format == "json":
        echo_json(report)
    else:
        click.echo(format_report(report))
        click.echo(format_levels(report["levels"]))
        calibration = report["calibration"]
        click.echo(format_calibration(threshold, calibration) if calibration else TOO_FEW_PAIRS)
        if apply:
            click.echo(report["applied"])


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
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--with",
    "with_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Another labelled JSONL file to fit on as well (repeatable).",
)
@click.option("--feedback", is_flag=True, help="Also fit on the analysts' relevance judgements.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the refitted weights here.",
)
@click.option(
    "--apply",
    is_flag=True,
    help="Replace the configured relevance.model_file (the old one is kept as .bak).",
)
@click.pass_context
def fit_relevance(
    ctx: click.Context,
    files: tuple[Path, ...],
    with_files: tuple[Path, ...],
    feedback: bool,
    output: Path | None,
    apply: bool,
) -> None:
    """Refit the relevance weights and threshold on labelled FILES and/or feedback.

    Prints the current weights' F1 on the same items, then the refitted weights' F1 under random
    stratified folds and leaving one source out (the honest estimate for unseen outlets), overall,
    clear vs ambiguous and per language. Writes weights only with --output or --apply.
    """
    from monitor.calibrate import fit_relevance
    from monitor.evaluation import cross_validation_lines, source_group
    from monitor.gazetteer import load_gazetteer
    from monitor.relevance import assess
    from monitor.relevance_files import (
        load_relevance_model,
        load_seed_index,
        write_relevance_model,
    )
    from monitor.runtime import open_embedder_for
    from monitor.tagging import embedding_text
    from monitor.window_index import one_blas_thread

    settings = settings_for(ctx)
    records = [r for file in (*files, *with_files) for r in labelled_records(file)]
    if feedback:
        records += feedback_records(settings)
    if len({r["label"] for r in records}) < 2:
        raise click.UsageError("need labelled items of both kinds (label 0 and 1) to fit on")
    embedder = open_embedder_for(settings)
    seed_index = load_seed_index(
        settings.relevance.seeds_dir, embedder, settings.embedding.cache_dir
    )
    items = [(str(r.get("title") or ""), str(r.get("summary") or "")) for r in records]
    nearest = seed_index.nearest(embedder.embed([embedding_text(t, s) for t, s in items]))
    gazetteer = load_gazetteer(settings.relevance.gazetteer_dir)
    current = load_relevance_model(settings.relevance.model_file)
    before = [
        assess(gazetteer, current, title, summary, seed).relevant
        for (title, summary), seed in zip(items, nearest, strict=True)
    ]
    with one_blas_thread():  # small products: threads spin (busy cores: 188 s → 18 s; quiet: 15 s)
        fit = fit_relevance(
            gazetteer,
            items,
            [n.similarity if n else 0.0 for n in nearest],
            [r["label"] == 1 for r in records],
            [source_group(r) for r in records],
        )
    for title, predicted in (
        ("current weights", before),
        ("refitted, random 5-fold CV", fit.random_fold_predictions),
        ("refitted, leave-one-source-out CV", fit.source_fold_predictions),
    ):
        click.echo("\n".join(cross_validation_lines(title, records, predicted)))
    click.echo(f"threshold {fit.model.threshold:.3f} (L2 {fit.l2})")
    names = [f.name for f in (*files, *with_files)] + (["feedback"] if feedback else [])
    comment = fit_comment(names, len(records), fit)
    for target in written_model_targets(settings.relevance.model_file, output, apply):
        write_relevance_model(target, fit.model, comment)
        click.echo(f"wrote {target}")
    if apply:
        click.echo("run `monitor rescore` to rescore stored articles with the new weights")


def written_model_targets(model_file: Path, output: Path | None, apply: bool) -> list[Path]:
    """Where the refitted weights go; applying keeps the configured file as `.bak` first."""
    targets = [output] if output else []
    if apply:
        if model_file.exists():
            shutil.copyfile(model_file, model_file.with_name(model_file.name + ".bak"))
        targets.append(model_file)
    return targets


def feedback_records(settings: Settings) -> list[dict[str, Any]]:
    """The analysts' latest relevance judgements as labelled lines."""
    from monitor.storage.feedback import relevance_feedback_items

    with open_database(settings, writable=False) as sessions, sessions() as session:
        return [r for r in relevance_feedback_items(session) if r.get("label") in (0, 1)]


def labelled_records(file: Path) -> list[dict[str, Any]]:
    from monitor.evaluation import read_jsonl

    return [r for r in read_jsonl(file) if r.get("label") in (0, 1)]


def fit_comment(names: list[str], count: int, fit: RelevanceFit) -> str:
    return (
        f"Relevance weights over the features of monitor/relevance.py, calibrated by\n"
        f"`monitor eval fit-relevance {' '.join(names)}` on {count} labelled items (L2 {fit.l2}).\n"
        f"Cross-validated F1 {fit.random_fold_f1:.3f} (random 5 folds), "
        f"{fit.source_fold_f1:.3f} (leave one source out), at threshold {fit.model.threshold:.3f}."
    )


def describe_fit(fit: RelevanceFit) -> str:
    return f"cross-validated F1 {fit.cross_validated_f1:.3f} at threshold {fit.model.threshold:.3f}"


@click.group()
def seeds() -> None:
    """List, add and remove seed articles (the reference corpus)."""


@seeds.command("list")
@config_option
@format_option("table", "json")
@click.pass_context
def seeds_list(ctx: click.Context, output_format: str) -> None:
    """Show each seed with its passage count and content hash."""
    from monitor.seeds import list_seed_files, read_seed

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
    from monitor.seeds import read_seed

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
    from monitor.runtime import build_processor

    settings = settings_for(ctx)
    with open_database(settings) as sessions:
        processor = build_processor(settings, sessions)
        bar = ProgressBar("rescoring")
        count = processor.rescore(since.replace(tzinfo=UTC) if since else None, bar.update)
        bar.finish()
    click.echo(f"rescored {count} articles with scorer {processor.tagger.version}")
