"""Evaluation on labelled JSONL files: precision, recall, F1 overall and per group, and errors."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from monitor.calibrate import score_predictions
from monitor.errors import ConfigError


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
