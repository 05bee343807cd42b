"""`monitor matches | stories | show | search | export`: what the service stored."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, TextIO

import click

from monitor.cli.common import (
    OUTPUT_OPTION,
    config_option,
    echo_json,
    format_option,
    json_default,
    open_database,
    render_table,
    settings_for,
    short_time,
)
from monitor.clock import utc_now
from monitor.config import Settings
from monitor.filters import FilterError, FilterRequest, MatchFilter, parse_match_filter
from monitor.gazetteer import load_gazetteer
from monitor.storage.queries import (
    get_article,
    get_match,
    get_story,
    list_matches_page,
    list_stories_page,
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
EXIT_USAGE = 2
OPTION_OF = {"q": "--text", "lang": "--lang", "all": "--all", "min_score": "--min-score"}
MOMENT = "a duration back from now (90m, 24h, 7d) or an ISO date/time (UTC unless given)"


class FilterUsageError(click.ClickException):
    """A filter value the user must change: one line, exit 2 (like a bad option)."""

    exit_code = EXIT_USAGE

    def show(self, file: Any = None) -> None:
        click.echo(f"monitor: {self.format_message()}", err=True)


def filter_options(function: Any) -> Any:
    """The options every query command shares; they mean what the API's parameters mean."""
    options = [
        click.option("--since", help=f"First seen from: {MOMENT}."),
        click.option("--until", help=f"First seen before: {MOMENT}."),
        click.option("--country", help="ISO code or name: VE, Venezuela, Brasil, Куба."),
        click.option("--topic", help="e.g. energy, defense, trade-finance."),
        click.option("--lang", "language", help="The article's language code, e.g. es, pt, ru."),
        click.option("--min-score", type=click.FloatRange(0, 1)),
        click.option("--all", "include_all", is_flag=True, help="Not-relevant matches too."),
        click.option("--feed", help="Only this feed URL."),
        click.option("--story", type=click.IntRange(1), help="Only this story id."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_filter(settings: Settings, text: str | None = None, **filters: Any) -> MatchFilter:
    """The filter of the options, or exit 2 with one line naming the bad value."""
    request = FilterRequest(text=text, **filters)
    try:
        return parse_match_filter(
            request, load_gazetteer(settings.relevance.gazetteer_dir), utc_now()
        )
    except FilterError as error:
        option = OPTION_OF.get(error.parameter, f"--{error.parameter}")
        raise FilterUsageError(f"{option}: {error.message}") from None


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


TEXT_OPTION = click.option("--text", help="Words in the title or summary, taken literally.")


@click.command()
@config_option
@filter_options
@TEXT_OPTION
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@format_option("table", "json", "csv")
@click.pass_context
def matches(ctx: click.Context, /, limit: int, output_format: str, **filters: Any) -> None:
    """Relevant matches, newest first (filters: --since 24h --country VE --topic energy …)."""
    settings = settings_for(ctx)
    match_filter = build_filter(settings, **filters)
    with open_database(settings) as sessions, sessions() as session:
        items = list_matches_page(session, match_filter, limit)
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
@format_option("text", "json")
@click.pass_context
def show(ctx: click.Context, match_id: int, output_format: str) -> None:
    """One match: a readable summary, or with --format json the full record (match, article,
    story)."""
    with open_database(settings_for(ctx)) as sessions, sessions() as session:
        match = get_match(session, match_id)
        if match is None:
            raise click.ClickException(f"no such match: {match_id}")
        article = get_article(session, match["article_id"])
        story = get_story(session, match["story_id"]) if match["story_id"] else None
    if output_format == "json":
        echo_json({"match": match, "article": article, "story": story})
    else:
        click.echo(describe_match(match, story))


def describe_match(match: dict[str, Any], story: dict[str, Any] | None) -> str:
    """What an analyst reads first: the headline, where and when, the verdict and why."""
    verdict = "relevant" if match["relevant"] else "not relevant"
    outlet = match["feed"] if not match["feed_name"] else f"{match['feed_name']} ({match['feed']})"
    lines = [
        f"Match {match['id']}: {verdict} (score {match['score']:.2f})",
        match["title"],
        "",
        f"  outlet     {outlet}",
        f"  language   {match['language'] or '-'}",
        f"  published  {short_time(match['published_at'])} UTC"
        f" (first seen {short_time(match['first_seen_at'])} UTC)",
        f"  countries  {', '.join(match['countries']) or '-'}",
        f"  topics     {', '.join(match['topics']) or '-'}",
        f"  story      {describe_story(story)}",
        f"  url        {match['url'] or '-'}",
    ]
    reasons = explain_reasons(match["reasons"])
    if reasons:
        lines += ["", "Why:", *(f"  - {reason}" for reason in reasons)]
    return "\n".join(lines)


def describe_story(story: dict[str, Any] | None) -> str:
    if story is None:
        return "-"
    outlets = story["outlets_count"]
    return f"{story['id']}, reported by {outlets} outlet{'s' if outlets != 1 else ''}"


def explain_reasons(reasons: dict[str, Any]) -> list[str]:
    """The scorer's evidence (see `monitor.relevance.explain`) as sentences."""
    said = []
    if russia := terms_by_kind(reasons.get("russia", {})):
        said.append(f"Russian side: {russia}")
    if latam := terms_by_kind(reasons.get("latam", {})):
        said.append(f"Latin American side: {latam}")
    if reasons.get("region"):
        said.append(f"region: {', '.join(reasons['region'])}")
    if reasons.get("relation"):
        said.append(f"words of a relation between them: {', '.join(reasons['relation'])}")
    if context := terms_by_kind(reasons.get("context", {})):
        said.append(f"context: {context}")
    if seed := reasons.get("nearest_seed"):
        title = seed.get("title") or seed["name"]
        said.append(f"closest known example: {title} (similarity {seed['similarity']})")
    if reasons.get("roundup_line"):
        said.append(f"judged on the roundup line: {reasons['roundup_line']}")
    return said


def terms_by_kind(found: dict[str, list[str]]) -> str:
    """{"officials": ["lavrov"], "CU": ["havana"]} → "lavrov (officials); havana (CU)"."""
    return "; ".join(f"{', '.join(terms)} ({kind})" for kind, terms in found.items() if terms)


@click.command()
@config_option
@click.argument("text")
@filter_options
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option(
    "--min-similarity",
    type=click.FloatRange(-1, 1),
    help="Hide weaker results (default: [search] min_similarity).",
)
@format_option("table", "json")
@click.pass_context
def search(
    ctx: click.Context,
    /,
    text: str,
    limit: int,
    min_similarity: float | None,
    output_format: str,
    **filters: Any,
) -> None:
    """Semantic search: matches whose articles mean something close to TEXT (relevant ones
    unless --all)."""
    from monitor.runtime import open_embedder_for  # loads numpy and the model: only here
    from monitor.search import search_matches

    settings = settings_for(ctx)
    match_filter = build_filter(settings, **filters)
    floor = settings.search.min_similarity if min_similarity is None else min_similarity
    embedder = open_embedder_for(settings)
    with open_database(settings) as sessions:
        items = search_matches(
            sessions,
            embedder,
            text,
            match_filter,
            limit,
            floor,
            settings.stories.approximate_above,
        )
    if output_format == "json":
        echo_json(items)
    elif not items:
        click.echo(f"no match is close enough to {text!r} (similarity below {floor})", err=True)
    else:
        click.echo(
            render_table(
                ["id", "similarity", "relevant", "title"],
                [
                    [m["id"], f"{m['similarity']:.3f}", m["relevant"], m["title"][:80]]
                    for m in items
                ],
            )
        )


@click.command()
@config_option
@filter_options
@TEXT_OPTION
@format_option("jsonl", "csv")
@OUTPUT_OPTION
@click.pass_context
def export(ctx: click.Context, /, output_format: str, output: TextIO, **filters: Any) -> None:
    """Every match (relevant only unless --all) as JSON lines or CSV."""
    settings = settings_for(ctx)
    match_filter = build_filter(settings, **filters)
    with open_database(settings) as sessions, sessions() as session:
        pages = all_pages(session, match_filter)
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
