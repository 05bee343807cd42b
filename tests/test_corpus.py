"""The real feed corpus in ../shared/corpus/feeds: nothing escapes, nothing over budget, no
entry lost that plain feedparser 6.0.14 finds (unless dropped with a stated reason)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config import ParseSettings
from monitor.errors import ParseError
from monitor.parsers import ParserPool, explain_parse_failure
from tests.conftest import REPORTED_TOTALS

BUDGET_S = 10.0


@pytest.mark.slow
@pytest.mark.corpus
def test_corpus_parses_without_loss(shared_dir: Path) -> None:
    """Every corpus file parses within budget; kept + stated drops + entries cut at the cap
    >= feedparser's count."""
    corpus = shared_dir / "corpus" / "feeds"
    with (corpus / "MANIFEST.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3063
    totals: Counter[str] = Counter()
    losses, escapes, over_budget = [], [], []
    with ParserPool(ParseSettings(workers=2, time_budget_s=BUDGET_S)) as pool:
        options = pool.options(datetime.now(UTC), None)
        futures = [
            (row, pool.submit((corpus / row["path"]).read_bytes(), {}, None, options))
            for row in rows
        ]
        for row, future in futures:
            floor = int(row["fp6014_entries"] or 0)
            totals["feedparser_entries"] += floor
            try:
                parsed = future.result()
            except Exception as exc:
                failure = explain_parse_failure(exc, BUDGET_S)
                if "budget" in str(failure):
                    over_budget.append(row["path"])
                elif not isinstance(exc, ParseError):
                    escapes.append(f"{row['path']}: {failure}")
                totals["files_not_feeds"] += 1
                if floor:
                    losses.append(f"{row['path']}: {failure} (feedparser found {floor})")
                continue
            kept, dropped = len(parsed.entries), len(parsed.dropped) + parsed.entries_cut
            totals["files_parsed"] += 1
            totals["entries_kept"] += kept
            totals["entries_dropped_with_reason"] += len(parsed.dropped)
            totals["entries_cut_at_cap"] += parsed.entries_cut
            if kept + dropped < floor:
                losses.append(
                    f"{row['path']}: kept {kept} + dropped {dropped} < feedparser {floor}"
                )
    REPORTED_TOTALS["feed corpus"] = dict(totals)
    assert escapes == [], escapes[:10]
    assert over_budget == [], over_budget[:10]
    assert losses == [], losses[:10]
    assert (
        totals["entries_kept"]
        + totals["entries_dropped_with_reason"]
        + totals["entries_cut_at_cap"]
        >= totals["feedparser_entries"]
    )
