"""`monitor matches | stories | show | search | export`: what the service stored."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import click
import numpy as np

from monitor.cli.common import (
    OUTPUT_OPTION,
    config_option,
    echo_json,
    format_option,
    json_default,
    open_database,
    render_table,
    settings_for,
)
from monitor.cli.tagging import embedder_for
from monitor.config import parse_duration_s
from monitor.embed import decode_vector
from monitor.storage.queries import (
    MatchFilter,
    get_article,
    get_match,
    get_story,
    list_matches_page,
    list_stories_page,
    vectors_for_search,
)

CSV_FIELDS = (
    "id",
    "article_id",
    "story_id",
    "first_seen_at",
    "published_at",
    "relevant",
    "score",
    "countries",
    "topics",
    "feed",
    "language",
    "title",
    "url",
)
EXPORT_PAGE = 1000


def parse_since(value: str | None) -> datetime | None:
    """ "24h", "7d" (ago) or an ISO date/time (UTC)."""
    if not value:
        return None
    try:
        return datetime.now(UTC) - timedelta(seconds=parse_duration_s(value))
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "use a duration like 24h or 7d, or a date like 2026-11-01"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_options(function: Any) -> Any:
    options = [
        click.option("--since", help="Only matches first seen within (24h, 7d) or since a date."),
        click.option("--country", help="ISO code of a Latin American country, e.g. VE."),
        click.option("--topic", help="e.g. energy, defense, trade-finance."),
        click.option("--min-score", type=click.FloatRange(0, 1)),
        click.option("--all", "include_all", is_flag=True, help="Irrelevant matches too."),
        click.option("--feed", help="Only this feed URL."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_filter(
    since: str | None,
    country: str | None,
    topic: str | None,
    min_score: float | None,
    include_all: bool,
    feed: str | None,
) -> MatchFilter:
    return MatchFilter(
        since=parse_since(since),
        min_score=min_score,
        relevant=None if include_all else True,
        country=country,
        topic=topic,
        feed=feed,
    )


def flat(match: dict[str, Any]) -> dict[str, Any]:
    row = {key: match[key] for key in CSV_FIELDS}
    row["countries"], row["topics"] = " ".join(match["countries"]), " ".join(match["topics"])
    return row


def write_csv(rows: Iterable[dict[str, Any]], output: TextIO) -> None:
    writer = csv.DictWriter(output, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json_default(v) if isinstance(v, datetime) else v for k, v in flat(row).items()}
        )


def show_matches(items: list[dict[str, Any]], output_format: str) -> None:
    if output_format == "json":
        echo_json(items)
    elif output_format == "csv":
        write_csv(items, sys.stdout)
    else:
        click.echo(
            render_table(
                ["id", "first seen (UTC)", "score", "countries", "topics", "title"],
                [
                    [
                        m["id"],
                        m["first_seen_at"].strftime("%Y-%m-%d %H:%M"),
                        f"{m['score']:.2f}",
                        ",".join(m["countries"]),
                        ",".join(m["topics"]),
                        m["title"][:70],
                    ]
                    for m in items
                ],
            )
        )


@click.command()
@config_option
@filter_options
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option("table", "json", "csv")
@click.pass_context
def matches(ctx: click.Context, /, limit: int, output_format: str, **filters: Any) -> None:
    """Relevant matches, newest first (filters: --since 24h --country VE --topic energy …)."""
    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        items = list_matches_page(session, build_filter(**filters), limit)
    show_matches(items, output_format)


@click.command()
@config_option
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True)
@format_option("table", "json")
@click.pass_context
def stories(ctx: click.Context, limit: int, output_format: str) -> None:
    """Stories, newest first, with outlets count and languages."""
    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        items = list_stories_page(session, limit)
    if output_format == "json":
        echo_json(items)
        return
    click.echo(
        render_table(
            ["id", "articles", "outlets", "languages", "last seen (UTC)", "title"],
            [
                [
                    s["id"],
                    s["article_count"],
                    s["outlets_count"],
                    ",".join(s["languages"]),
                    s["last_seen_at"].strftime("%Y-%m-%d %H:%M"),
                    s["title"][:70],
                ]
                for s in items
            ],
        )
    )


@click.command()
@config_option
@click.argument("match_id", type=int)
@click.pass_context
def show(ctx: click.Context, match_id: int) -> None:
    """One match with its article, reasons and story, as JSON."""
    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        match = get_match(session, match_id)
        if match is None:
            raise click.ClickException(f"no such match: {match_id}")
        article = get_article(session, match["article_id"])
        story = get_story(session, match["story_id"]) if match["story_id"] else None
    echo_json({"match": match, "article": article, "story": story})


@click.command()
@config_option
@click.argument("text")
@filter_options
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@format_option("table", "json")
@click.pass_context
def search(
    ctx: click.Context, /, text: str, limit: int, output_format: str, **filters: Any
) -> None:
    """Semantic search: matches whose articles mean something close to TEXT."""
    settings = settings_for(ctx)
    embedder = embedder_for(settings)
    match_filter = build_filter(**{**filters, "include_all": True})
    with open_database(settings) as sessions, sessions() as session:
        rows = vectors_for_search(session, match_filter, embedder.model_id, 20_000)
        if not rows:
            raise click.ClickException("nothing to search: no stored vectors for this model yet")
        similarity = np.vstack([decode_vector(v) for _, v in rows]) @ embedder.embed([text])[0]
        best = np.argsort(-similarity)[:limit]
        items = [
            {**(get_match(session, rows[i][0]) or {}), "similarity": round(float(similarity[i]), 4)}
            for i in best
        ]
    if output_format == "json":
        echo_json(items)
        return
    click.echo(
        render_table(
            ["id", "similarity", "relevant", "title"],
            [[m["id"], f"{m['similarity']:.3f}", m["relevant"], m["title"][:80]] for m in items],
        )
    )


@click.command()
@config_option
@filter_options
@format_option("jsonl", "csv")
@OUTPUT_OPTION
@click.pass_context
def export(ctx: click.Context, /, output_format: str, output: TextIO, **filters: Any) -> None:
    """Every match (relevant only unless --all) as JSON lines or CSV."""
    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        pages = all_pages(session, build_filter(**filters))
        if output_format == "csv":
            write_csv(pages, output)
        else:
            for match in pages:
                output.write(json.dumps(match, ensure_ascii=False, default=json_default) + "\n")


def all_pages(session: Any, match_filter: MatchFilter) -> Iterator[dict[str, Any]]:
    cursor = None
    while True:
        page = list_matches_page(session, match_filter, EXPORT_PAGE, cursor)
        yield from page
        if len(page) < EXPORT_PAGE:
            return
        cursor = page[-1]["id"]
