"""Hostile-input benchmark: every bad input we know, served from 127.0.0.1 to one ingestion cycle
(monitor's real fetch, parse and store) together with 20 good feeds.

For each case it prints what was stored, the error recorded against the feed, and the wall time
and peak memory of a cycle that fetches that case alone (in a fresh process, so the peaks are
its own); then the combined cycle, ending with "good feeds stored: 20/20".

    .venv/bin/python bench/hostile.py [--database-url postgresql+psycopg://postgres@127.0.0.1/postgres]

SQLite (a temporary file) by default. With --database-url the benchmark creates two scratch
databases on that server and drops them afterwards. The server runs in its own process; the
network deadline is 10 s (the default is 60 s) so the slow-drip case does not dominate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from monitor.config import Settings
from monitor.ingest import open_ingestor
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.storage import migrate
from monitor.storage.engine import open_engine
from monitor.storage.feeds import add_feeds, get_feed
from monitor.values import FeedCycleResult, FeedSpec

GOOD_FEEDS = 20
GOOD_ENTRIES = 5
DEADLINE_S = 10.0
SAMPLE_S = 0.02
ENGINES: list[Engine] = []
RSS_ITEM = '<item><title>Item {n}</title><link>https://big.example/{n}</link><guid isPermaLink="false">{n}</guid><description>{pad}</description></item>'


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    what: str
    reply: Callable[[str], Reply] | None = None  # served at /case/<name>, given the name
    url: Callable[[int], str] | None = None  # a URL of its own, given the server's port


def feed(items: list[str], title: str = "Hostile feed", extra: str = "") -> bytes:
    return rss(items, title=title, extra=extra)


def one_item(tag: str) -> str:
    return item(f"A story on Russia and Peru ({tag})", f"https://h.example/{tag}", tag)


def xml(body: bytes) -> Reply:
    return Reply(200, {"Content-Type": "application/rss+xml"}, body)


def gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


def big_feed(items: int) -> bytes:
    pad = "One item, long feed."
    return feed([RSS_ITEM.format(n=n, pad=pad) for n in range(items)])


def utf16_without_bom() -> bytes:
    text_ = (
        '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Notícias'
        "</title><item><title>Lula e Putin discutem comércio no BRICS</title>"
        '<guid isPermaLink="false">pt1</guid></item></channel></rss>'
    )
    return text_.encode("utf-16-le")


XXE = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b'<rss version="2.0"><channel><title>xxe</title><item><title>x &xxe; y</title>'
    b'<guid isPermaLink="false">1</guid></item></channel></rss>'
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + n)} "{("&" + chr(97 + n) + ";") * 10}">' for n in range(8))
    + ']><rss version="2.0"><channel><title>lol</title><item><title>&i;</title>'
    '<guid isPermaLink="false">1</guid></item></channel></rss>'
).encode()

# Every case's items are its own (guid, link and title carry the case name), so no case's
# article is a duplicate of another's.
CASES = (
    Case("max-age-5000-digits", "Cache-Control: max-age= 5,000 digits",
         lambda t: Reply(200, {"Cache-Control": "max-age=" + "9" * 5000}, feed([one_item(t)]))),
    Case("nul-in-guid", "a NUL byte inside a guid",
         lambda t: xml(feed([item(f"A story on Russia and Peru ({t})", f"https://h.example/{t}", f"{t}\x00nul")]))),
    Case("etag-1100-chars", "ETag of 1,100 characters",
         lambda t: Reply(200, {"ETag": '"' + "e" * 1098 + '"'}, feed([one_item(t)]))),
    Case("last-modified-200", "Last-Modified of 200 characters",
         lambda t: Reply(200, {"Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT" + "x" * 171},
                         feed([one_item(t)]))),
    Case("link-2100-chars", "an item link of 2,100 characters, then an ordinary item",
         lambda t: xml(feed([item("Overlong link", "https://e.org/" + "a" * 2086, "long"), one_item(t)]))),
    Case("channel-title-600", "a channel title of 600 characters",
         lambda t: xml(feed([one_item(t)], title="T" * 600))),
    Case("retry-after-superscript", "503 with Retry-After: ²",
         lambda _t: Reply(503, {"Retry-After": "²"}, b"busy")),
    Case("retry-after-5000-digits", "429 with Retry-After of 5,000 digits",
         lambda _t: Reply(429, {"Retry-After": "9" * 5000}, b"slow down")),
    Case("title-5mb", "an item title of 5 MB",
         lambda t: xml(feed([item("Russia " * 750_000, f"https://h.example/{t}", t)]))),
    Case("items-50000", "50,000 items (8 MB)", lambda _t: xml(big_feed(50_000))),
    Case("utf16-no-bom", "UTF-16 without a byte-order mark",
         lambda _t: Reply(200, {"Content-Type": "application/xml"}, utf16_without_bom())),
    Case("host-0177.0.0.1", "host 0177.0.0.1 (octal or decimal?)",
         url=lambda port: f"http://0177.0.0.1:{port}/feed"),
    Case("host-127.000.000.001", "host 127.000.000.001",
         url=lambda port: f"http://127.000.000.001:{port}/feed"),
    Case("host-empty-label", "host a..b (idna refuses it)", url=lambda port: f"http://a..b:{port}/"),
    Case("gzip-bomb", "gzip bomb: 1 MB on the wire, 1 GiB inflated",
         lambda _t: Reply(200, {"Content-Encoding": "gzip"}, gzip_of_zeros(1 << 30))),
    Case("xxe", "external entity file:///etc/passwd", lambda _t: xml(XXE)),
    Case("billion-laughs", "nested entities (10^8 expansions)", lambda _t: xml(LAUGHS)),
    Case("endless-redirect", "a redirect to itself",
         lambda t: Reply(302, {"Location": f"/case/{t}"})),
    Case("redirect-to-internal", "a redirect to 127.0.0.2 (not in allow_cidrs)",
         url=lambda port: f"http://127.0.0.1:{port}/to-internal"),
    Case("metadata-address", "the cloud metadata address",
         url=lambda _port: "http://169.254.169.254/latest/meta-data/"),
    Case("redirect-to-file", "a redirect to file:///etc/passwd",
         lambda _t: Reply(302, {"Location": "file:///etc/passwd"})),
    Case("header-block-100k", "100 KB of response headers",
         lambda t: Reply(200, {f"X-Junk-{n}": "j" * 1000 for n in range(100)}, feed([one_item(t)]))),
    Case("brotli", "Content-Encoding: br (not asked for)",
         lambda _t: Reply(200, {"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03")),
    Case("corrupt-gzip", "a gzip header, then garbage",
         lambda _t: Reply(200, {"Content-Encoding": "gzip"}, b"\x1f\x8b\x08\x00" + os.urandom(4000))),
    Case("slow-drip", "one byte every 0.5 s (past the deadline)",
         lambda t: Reply(200, {}, feed([one_item(t)]), chunk_delay_s=0.5)),
    Case("html-page", "an HTML page",
         lambda _t: Reply(200, {"Content-Type": "text/html"}, b"<!doctype html><p>hi")),
    Case("empty-body", "an empty 200", lambda _t: xml(b"")),
    Case("deep-nesting", "100,000 nested elements",
         lambda _t: xml(b'<rss version="2.0"><channel><title>deep</title>' + b"<x>" * 100_000
                        + b"</x>" * 100_000 + b"</channel></rss>")),
    Case("javascript-link", "an item linking to javascript:",
         lambda t: xml(feed([item("Click me", "javascript:alert(1)", t)]))),
)  # fmt: skip


def good_feed(n: int) -> bytes:
    return feed(
        [
            item(f"Good story {n}-{e} on Russia and Cuba", f"https://good{n}.example/{e}", f"g{e}")
            for e in range(GOOD_ENTRIES)
        ],
        title=f"Good feed {n}",
    )


def serve(ports: multiprocessing.Queue[int]) -> None:
    """Runs in its own process: serving must not compete with the cycle for the GIL."""
    with FeedServer("127.0.0.1") as server:
        for n in range(GOOD_FEEDS):
            server.add(f"/good/{n}", xml(good_feed(n)))
        for case in CASES:
            if case.reply is not None:
                server.add(f"/case/{case.name}", case.reply(case.name))
        server.add("/to-internal", Reply(302, {"Location": f"http://127.0.0.2:{server.port}/"}))
        ports.put(server.port)
        threading.Event().wait()


def case_url(case: Case, port: int) -> str:
    return case.url(port) if case.url else f"http://127.0.0.1:{port}/case/{case.name}"


def bench_settings(database_url: str) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "network": {"allow_cidrs": ["127.0.0.1/32"], "total_deadline_s": DEADLINE_S},
        }
    )


class TreeMemory:
    """Samples the resident memory of this process and all its descendants (the parser
    workers) every SAMPLE_S; `peak_mb` is the largest sum seen."""

    def __init__(self) -> None:
        self.peak_kb = self.idle_kb = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.peak_kb = max(self.peak_kb, self.sample_kb())

    def sample_kb(self) -> int:
        return sum(rss_kb(pid) for pid in tree(os.getpid()))

    def mark_idle(self) -> None:
        """From now on the peak counts: the ingestor is open and its parsers warm."""
        self.idle_kb = self.peak_kb = self.sample_kb()

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.idle_kb) / 1024


def tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids.extend(tree(int(child)))
    return pids


def rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_sessions(database_url: str) -> sessionmaker[Session]:
    engine = open_engine(bench_settings(database_url).database)
    migrate.upgrade(engine)
    ENGINES.append(engine)
    return sessionmaker(engine, expire_on_commit=False)


def dispose_engines() -> None:
    while ENGINES:
        ENGINES.pop().dispose()


async def run_cycle(
    settings: Settings,
    sessions: sessionmaker[Session],
    memory: TreeMemory,
    only_url: str | None = None,
    warm_url: str | None = None,
) -> tuple[dict[str, FeedCycleResult], float]:
    """One cycle, timed from a warm parser (the in-process reader and the worker processes,
    started on first need, each with its language model loaded) and, with `warm_url`, after a
    cycle over that good feed has run every code path once."""
    results: dict[str, FeedCycleResult] = {}
    async with open_ingestor(settings, sessions) as ingestor:
        warm_up = feed([one_item("warm-up")])
        options = ingestor.parsers.options(datetime.now(UTC), None)
        await ingestor.parsers.parse(warm_up, {}, None, options)
        await asyncio.gather(
            *(
                asyncio.wrap_future(ingestor.parsers.submit(warm_up, {}, None, options))
                for _ in range(settings.parse.workers)
            )
        )
        if warm_url:
            await ingestor.run_cycle(warm_url)
        memory.mark_idle()
        started = time.perf_counter()
        await ingestor.run_cycle(only_url, lambda r, _done, _total: results.update({r.url: r}))
        return results, time.perf_counter() - started


def run_one(database_url: str, url: str, warm_url: str) -> None:
    """In a fresh process: one cycle fetching `url` alone; prints its figures as JSON."""
    sessions = open_sessions(database_url)
    with TreeMemory() as memory:
        results, wall_s = asyncio.run(
            run_cycle(bench_settings(database_url), sessions, memory, url, warm_url)
        )
    figures = {"wall_s": wall_s, "peak_mb": memory.peak_mb, "growth_mb": memory.growth_mb}
    print(json.dumps(figures | {"ok": url in results}))


def measure_alone(database_url: str, url: str, warm_url: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--database-url", database_url, "--run-one", url]
    command += ["--warm-url", warm_url]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


@contextlib.contextmanager
def scratch_database(server_url: str | None, tmp: Path, label: str) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database on the PostgreSQL server, dropped after."""
    if server_url is None:
        yield f"sqlite:///{tmp / f'{label}.db'}"
        return
    name = f"monitor_hostile_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def add_urls(sessions: sessionmaker[Session], urls: list[str]) -> None:
    with sessions.begin() as session:
        add_feeds(session, [FeedSpec(url) for url in urls], 900, datetime.now(UTC))


def describe_stored(
    sessions: sessionmaker[Session], url: str, result: FeedCycleResult | None
) -> tuple[str, str]:
    with sessions.begin() as session:
        state = get_feed(session, url)
    assert state is not None
    new = result.new_articles if result else 0
    stored = f"{new} article{'' if new == 1 else 's'}"
    if result and result.dropped:
        stored += f", {result.dropped} dropped"
    if state.name:
        stored += f", name {len(state.name):,} chars"
    stored += f", etag {'kept' if state.etag else '-'}, last-modified {'kept' if state.last_modified else '-'}"
    error = f"{state.last_error_class}: {state.last_error}" if state.last_error_class else "-"
    if not state.last_error_class and state.last_error:
        error = f"note: {state.last_error}"
    return stored, error


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", help="a PostgreSQL server (scratch databases are made on it)"
    )
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--warm-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        run_one(args.database_url, args.run_one, args.warm_url)
        return

    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    port = ports.get(timeout=120)
    case_urls = {case.name: case_url(case, port) for case in CASES}
    good_urls = [f"http://127.0.0.1:{port}/good/{n}" for n in range(GOOD_FEEDS)]
    backend = "PostgreSQL" if args.database_url else "SQLite (WAL)"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"database: {backend}; network deadline {DEADLINE_S:g} s; memory = process tree RSS, sampled every {SAMPLE_S * 1000:.0f} ms"
    )

    with tempfile.TemporaryDirectory() as tmp:
        with scratch_database(args.database_url, Path(tmp), "alone") as alone_url:
            add_urls(open_sessions(alone_url), [good_urls[0], *case_urls.values()])
            alone = {
                name: measure_alone(alone_url, url, good_urls[0]) for name, url in case_urls.items()
            }
            dispose_engines()
        with scratch_database(args.database_url, Path(tmp), "cycle") as cycle_url:
            sessions = open_sessions(cycle_url)
            add_urls(sessions, good_urls + list(case_urls.values()))
            with TreeMemory() as memory:
                results, wall_s = asyncio.run(
                    run_cycle(bench_settings(cycle_url), sessions, memory)
                )
            rows = [
                (
                    case,
                    *describe_stored(
                        sessions, case_urls[case.name], results.get(case_urls[case.name])
                    ),
                )
                for case in CASES
            ]
            good_stored = sum(
                1
                for url in good_urls
                if url in results
                and results[url].outcome == "ok"
                and results[url].new_articles == GOOD_ENTRIES
            )
            dispose_engines()
    server.terminate()

    print(
        "Each case alone, in a fresh process after a warm-up cycle: wall time of its cycle, "
        "peak memory and growth over the idle ingestor."
    )
    print(
        f"\n{'case':<24} {'wall s':>6} {'peak MB':>7} {'+MB':>5}  input / stored / error recorded"
    )
    for case, stored, error in rows:
        f = alone[case.name]
        print(
            f"{case.name:<24} {f['wall_s']:6.2f} {f['peak_mb']:7.0f} {f['growth_mb']:5.0f}  "
            f"{case.what}"
        )
        print(f"{'':<48}stored: {stored}")
        print(f"{'':<48}error:  {error}")
    print(
        f"\none cycle: {GOOD_FEEDS} good feeds + {len(CASES)} hostile ones, {wall_s:.2f} s, "
        f"peak {memory.peak_mb:.0f} MB (+{memory.growth_mb:.0f} MB over idle); "
        f"feeds with a result: {len(results)}/{GOOD_FEEDS + len(CASES)}"
    )
    print(f"good feeds stored: {good_stored}/{GOOD_FEEDS}")


if __name__ == "__main__":
    main()
