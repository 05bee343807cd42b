"""The demo: sample feeds and a webhook sink on 127.0.0.1, the real service over them in a
temporary database, then what it stored."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.config import (
    AlertRule,
    AlertSettings,
    DatabaseSettings,
    EmbeddingSettings,
    FeedsSettings,
    LoggingSettings,
    NetworkSettings,
    ParseSettings,
    ServiceSettings,
    Settings,
    WebhookChannel,
    read_toml,
)
from monitor.cycle import add_feeds_if_empty
from monitor.logs import configure_logging
from monitor.loopback import FeedServer, Received, Reply, WebhookSink, item, rss
from monitor.runtime import open_runtime
from monitor.service import Service
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.maintenance import count_outstanding_work
from monitor.storage.queries import MatchFilter, list_matches_page, list_stories_page

SAMPLES = Path(__file__).with_name("sample_feeds.toml")
SECRET_ENV = "MONITOR_DEMO_WEBHOOK_SECRET"  # noqa: S105 - the variable's name
DEMO_TIMEOUT_S = 60.0
SETTLE_CHECK_S = 0.2


def serve_samples(server: FeedServer) -> list[tuple[str, str, str]]:
    """(name, url, language) of each sample outlet served by `server`."""
    outlets = []
    for number, outlet in enumerate(read_toml(SAMPLES)["outlets"]):
        entries = [
            item(
                title,
                f"https://demo-{number}.example/{index}",
                f"demo-{number}-{index}",
                summary=summary,
            )
            for index, (title, summary) in enumerate(outlet["items"])
        ]
        url = server.add(
            f"/outlet/{number}", Reply(200, {"Content-Type": "application/rss+xml"}, rss(entries))
        )
        outlets.append((outlet["name"], url, outlet["language"]))
    return outlets


def demo_settings(
    directory: Path,
    outlets: list[tuple[str, str, str]],
    hook_url: str,
    embedding: EmbeddingSettings,
) -> Settings:
    feeds_file = directory / "feeds.toml"
    feeds_file.write_text(
        "".join(
            f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nlanguage = "{language}"\n'
            "poll_interval_s = 3600\n"
            for name, url, language in outlets
        ),
        encoding="utf-8",
    )
    return Settings(
        database=DatabaseSettings(url=f"sqlite:///{directory / 'demo.db'}"),
        network=NetworkSettings(allow_cidrs=(IPv4Network("127.0.0.0/8"),)),
        feeds=FeedsSettings(file=feeds_file),
        parse=ParseSettings(workers=1),  # five small feeds: one parser warms up faster than two
        # Short intervals: each stage picks up the previous one's work within a quarter second.
        service=ServiceSettings(poll_every_s=1, process_every_s=0.25, dispatch_every_s=0.25),
        alerts=AlertSettings(
            webhooks=(WebhookChannel(name="demo-sink", url=hook_url, secret_env=SECRET_ENV),),
            rules=(AlertRule(name="russia-latam", min_score=0.5, channels=("demo-sink",)),),
        ),
        logging=LoggingSettings(level="WARNING"),
        embedding=embedding,
    )


def is_settled(sessions: sessionmaker[Session]) -> bool:
    """Every feed fetched, every article processed, every alert delivered."""
    with sessions() as session:
        return count_outstanding_work(session).is_settled


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def run_demo(echo: Callable[[str], None], embedding: EmbeddingSettings) -> None:
    configure_logging(LoggingSettings(level="WARNING", format="text"))
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    os.environ[SECRET_ENV] = secret

    printing = threading.Lock()

    def print_alert(request: Received) -> Reply:
        body = json.loads(request.body)
        story = body["story"]
        text = (
            f"  ALERT {body['type']:14} {body['message']}\n"
            f"        countries {', '.join(body['countries']) or '-'}; "
            f"topics {', '.join(body['topics']) or '-'}; "
            f"{plural(story['outlets_count'], 'outlet')}, "
            f"languages {', '.join(story['languages'])}; "
            f"webhook-id {request.headers['webhook-id']}"
        )
        with printing:
            echo(text)
        return Reply(204)

    with (
        tempfile.TemporaryDirectory(prefix="monitor-demo-") as tmp,
        FeedServer() as feeds,
        WebhookSink(print_alert) as sink,
    ):
        outlets = serve_samples(feeds)
        settings = demo_settings(Path(tmp), outlets, sink.url(), embedding)
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        echo(
            f"Serving {len(outlets)} sample outlets on {feeds.base_url}; alerts go to {sink.url()}"
        )
        echo("Running the service (fetch → parse → store → embed → stories → relevance → alerts)…")

        async def run_until_settled() -> None:
            async with open_runtime(settings, sessions) as runtime:
                await asyncio.to_thread(add_feeds_if_empty, runtime)  # before "settled" can hold
                service = Service(runtime)
                runner = asyncio.create_task(service.run())
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEMO_TIMEOUT_S
                while loop.time() < deadline and not runner.done():
                    await asyncio.sleep(SETTLE_CHECK_S)
                    if await asyncio.to_thread(is_settled, sessions):
                        break
                service.request_stop()
                await runner

        asyncio.run(run_until_settled())
        print_results(sessions, echo)
        engine.dispose()


def print_results(sessions: sessionmaker[Session], echo: Callable[[str], None]) -> None:
    with sessions() as session:
        stories = list_stories_page(session, 100)
        matches = list_matches_page(session, MatchFilter(), 100)
    echo("")
    echo("Stories with more than one outlet:")
    for story in sorted(stories, key=lambda s: -s["outlets_count"]):
        if story["outlets_count"] > 1:
            echo(
                f"  #{story['id']:<3} {plural(story['outlets_count'], 'outlet')} "
                f"[{', '.join(story['languages'])}] {story['title']}"
            )
    echo("")
    echo("Matches (relevant first):")
    for match in sorted(matches, key=lambda m: (-m["relevant"], -m["score"])):
        mark = "RELEVANT" if match["relevant"] else "        -"
        echo(
            f"  {mark} {match['score']:.2f} {','.join(match['countries']) or '-':6} "
            f"{match['title'][:88]}"
        )
