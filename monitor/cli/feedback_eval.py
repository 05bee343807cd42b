"""What `monitor eval relevance|same-story --feedback [--apply]` add to the evaluation: the
labelled lines read from stored judgements, the headline figures, and writing a calibrated
same-story threshold into the settings file in use (with a backup copy)."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import open_database

if TYPE_CHECKING:
    from monitor.config import Settings

RELEVANCE = "relevance"
SAME_STORY = "same-story"
HOW_TO_JUDGE = {
    RELEVANCE: "mark matches relevant or not (POST /matches/{id}/feedback or the inbox)",
    SAME_STORY: "judge story members (POST /stories/{id}/articles/{article_id}/feedback)",
}


def feedback_lines(settings: Settings, kind: str) -> list[dict[str, Any]]:
    """The stored judgements of `kind` as labelled lines (the latest per item)."""
    from monitor.storage.feedback import relevance_feedback_items, same_story_feedback_items

    with open_database(settings, writable=False) as sessions, sessions() as session:
        if kind == RELEVANCE:
            return relevance_feedback_items(session)
        return same_story_feedback_items(session)


def labelled_inputs(
    settings: Settings, file: Path | None, use_feedback: bool, kind: str
) -> list[dict[str, Any]]:
    """FILE's lines, then (with `--feedback`) the stored judgements; a usage error when
    neither is asked for, or the judgements asked for are none."""
    from monitor.evaluation import read_jsonl

    if file is None and not use_feedback:
        raise click.UsageError("name a labelled FILE, or pass --feedback (or both)")
    records = list(read_jsonl(file)) if file is not None else []
    if use_feedback:
        stored = feedback_lines(settings, kind)
        if not stored:
            raise click.UsageError(f"no {kind} judgements stored yet: {HOW_TO_JUDGE[kind]}")
        records += stored
    return records


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The overall precision, recall and F1 at the report's top level, for scripts."""
    overall = report["overall"]
    return {key: overall[key] for key in ("precision", "recall", "f1")}


TOO_FEW_PAIRS = "threshold not calibrated: too few pairs (at least two of one kind are needed)"


def calibration_of(similarities: Any, actual: Any) -> dict[str, Any] | None:
    """The threshold calibration, or None when the pairs are too few to cross-validate (each
    kind once at most: every fold would train on nothing)."""
    from monitor.calibrate import calibrate_threshold

    if max(int(actual.sum()), int((~actual).sum())) < 2:
        return None
    return asdict(calibrate_threshold(similarities, actual))


def backup_path(path: Path, stamp: str) -> Path:
    return path.with_name(f"{path.name}.{stamp}.bak")


def apply_threshold(
    config_path: Path | None, calibration: dict[str, Any] | None, settings: Settings, stamp: str
) -> str:
    """Write the calibrated threshold as `[stories] same_story_threshold` into the settings
    file in use, after copying it aside; returns what was done, in one line."""
    from monitor.config import ENV_NESTED_DELIMITER, ENV_PREFIX, read_settings
    from monitor.config_edit import set_toml_value
    from monitor.errors import ConfigError

    if calibration is None:
        raise click.ClickException(TOO_FEW_PAIRS)
    threshold = calibration["best_threshold"]
    if calibration["auc"] is None or threshold is None or not 0 < threshold < 1:
        raise click.ClickException(
            "cannot calibrate on one class only: judge some members the same story and some not"
        )
    if config_path is None:
        raise ConfigError("no settings file in use: pass --config FILE to name the file to change")
    backup = backup_path(config_path, stamp)
    shutil.copy2(config_path, backup)
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(
        set_toml_value(text, "stories", "same_story_threshold", repr(float(threshold))),
        encoding="utf-8",
    )
    try:
        applied = read_settings(config_path).stories.same_story_threshold
    except ConfigError:
        shutil.copy2(backup, config_path)
        raise ConfigError(
            f"{config_path}: cannot set the threshold in this file's layout; set "
            f"[stories] same_story_threshold = {threshold} by hand"
        ) from None
    old = settings.stories.same_story_threshold
    done = (
        f"wrote stories.same_story_threshold = {threshold} (was {old}) to {config_path}; "
        f"the old file is {backup}; the service uses it from its next start"
    )
    if applied != threshold:
        variable = f"{ENV_PREFIX}STORIES{ENV_NESTED_DELIMITER}SAME_STORY_THRESHOLD"
        done += f" (but {variable} overrides it while it is set)"
    return done
