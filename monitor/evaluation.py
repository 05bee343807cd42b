"""Evaluation on labelled JSONL files: precision, recall, F1 overall and per group, and errors."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.calibrate import score_predictions
from monitor.errors import ConfigError

# `rt-433533` → rt, `es-dwaste-sm363` → es-dwaste-sm, `es-dwaste-tg-EmbRusNic-12` → its account.
OUTLET_OF_ID = re.compile(
    r"es-dwaste-(?:(?:tg|tw)-[A-Za-z_]+|[a-z]{2})|[A-Za-z]+(?:-[A-Za-z]+)*(?=-?\d)|[A-Za-z]+"
)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Each line's object; a bad line is a ConfigError naming file and line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object")
            yield record


def evaluate(
    records: Sequence[dict[str, Any]],
    predicted: Sequence[bool],
    actual: Sequence[bool],
    groups: dict[str, Callable[[dict[str, Any]], str]],
    describe: Callable[[dict[str, Any]], str],
) -> dict[str, Any]:
    """Overall and per-group scores, with every error described."""
    report: dict[str, Any] = {
        "n": len(records),
        "overall": asdict(score_predictions(predicted, actual)),
    }
    for group_name, key in groups.items():
        members: dict[str, list[int]] = defaultdict(list)
        for index, record in enumerate(records):
            members[key(record)].append(index)
        report[f"by_{group_name}"] = {
            value: {
                "n": len(idx),
                **asdict(score_predictions([predicted[i] for i in idx], [actual[i] for i in idx])),
            }
            for value, idx in sorted(members.items())
        }
    report["errors"] = [
        {
            "kind": "false_positive" if p else "false_negative",
            "id": r.get("id"),
            "text": describe(r),
        }
        for r, p, a in zip(records, predicted, actual, strict=True)
        if p != a
    ]
    return report


def format_report(report: dict[str, Any], max_errors: int = 50) -> str:
    overall = report["overall"]
    lines = [
        f"n={report['n']}  precision {overall['precision']:.3f}  recall {overall['recall']:.3f}  "
        f"F1 {overall['f1']:.3f}  (tp {overall['true_positives']}, "
        f"fp {overall['false_positives']}, "
        f"fn {overall['false_negatives']})"
    ]
    for key, groups in report.items():
        if key.startswith("by_"):
            lines.append(f"{key[3:]}:")
            lines += [
                f"  {value:10} n={g['n']:4}  P {g['precision']:.3f}  "
                f"R {g['recall']:.3f}  F1 {g['f1']:.3f}"
                for value, g in groups.items()
            ]
    errors = report["errors"]
    lines.append(
        f"errors: {len(errors)}" + (f" (first {max_errors})" if len(errors) > max_errors else "")
    )
    short = {"false_positive": "FP", "false_negative": "FN"}
    lines += [f"  {short[e['kind']]} {e['id']}: {e['text'][:110]}" for e in errors[:max_errors]]
    return "\n".join(lines)


def source_group(record: dict[str, Any]) -> str:
    """The outlet an item came from, for leave-one-source-out folds: its `source` (repository
    without the commit, or a feed URL's host) and the outlet its id names (`rt-…`, `es-leo-…`,
    `es-dwaste-sm…`, an embassy account)."""
    source = str(record.get("source") or "")
    source = urlsplit(source).netloc or source.split("@")[0]
    outlet = OUTLET_OF_ID.match(str(record.get("id") or ""))
    return f"{source}:{outlet.group(0) if outlet else ''}"


def cross_validation_lines(
    title: str, records: Sequence[dict[str, Any]], predicted: Sequence[bool]
) -> list[str]:
    """Precision, recall and F1 of held-out decisions: overall, clear vs ambiguous (where the
    data marks ambiguity) and per language."""
    actual = [r["label"] == 1 for r in records]
    groups: dict[str, Callable[[dict[str, Any]], str]] = {
        "language": lambda r: str(r.get("lang")),
    }
    if any("ambiguous" in r for r in records):
        groups["ambiguity"] = lambda r: "ambiguous" if r.get("ambiguous") else "clear"
    report = evaluate(records, predicted, actual, groups, lambda r: "")
    lines = [f"{title}: {scores_line(report['overall'])}"]
    for group in groups:
        lines += [
            f"  {value:10} n={g['n']:4}  {scores_line(g)}"
            for value, g in report[f"by_{group}"].items()
        ]
    return lines


def scores_line(scores: dict[str, Any]) -> str:
    f1, precision, recall = scores["f1"], scores["precision"], scores["recall"]
    return f"F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f}"
