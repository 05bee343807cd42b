"""Ingestion benchmark: N generated feeds served from 127.0.0.1 (a server in its own process),
fetched, parsed and stored into a fresh SQLite database with 16 requests in flight.

Each tool runs in a fresh process of its own, three cycles in a row:

- cold: from the process start (imports, opening, a fresh database) to the end of a full cycle
  over the feeds of generation 0;
- warm: a full cycle over generation 1 (new URLs, new entries) in the same, already open process;
- 304: every stored feed (2 N) polled again; the server answers 304 to the ETag it sent.

Of the cold cycle, the start-up (process start to the tool ready to fetch: imports, the database
created, the HTTP client) is printed on its own too; the cold figures still include it.

The parent samples the tool's whole process tree (the parser workers included) every 20 ms: CPU
time (user + system) per cycle and peak memory, as resident (RSS, shared pages counted in every
process) and proportional (PSS, shared pages divided among the processes sharing them).

    .venv/bin/python bench/ingest.py [--feeds 200] [--entries 25] [--concurrency 16]
    .venv/bin/python bench/ingest.py --vs-reader   # the same run through lemon24/reader too

`--vs-reader` needs `reader` (not a project dependency): `.venv/bin/pip install reader sgmllib3k`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

WORDS = (
    "Russia",
    "Venezuela",
    "Brazil",
    "Cuba",
    "Lula",
    "Putin",
    "Maduro",
    "energy",
    "treaty",
    "summit",
    "BRICS",
    "oil",
    "minister",
    "talks",
    "Havana",
    "Caracas",
    "Moscow",
    "trade",
    "bank",
    "loan",
    "navy",
    "visit",
    "agreement",
)
GENERATIONS = 2
SAMPLE_EVERY_S = 0.02
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
REQUIREMENTS = {"full": 2.0, "304": 1.0, "memory": 2.0}


def headline(generation: int, feed: int, entry: int) -> str:
    picks = [WORDS[(feed * 7 + entry * 13 + k * 5) % len(WORDS)] for k in range(9)]
    return f"{' '.join(picks)} {generation}-{feed}-{entry}"


def feed_path(generation: int, feed: int) -> str:
    return f"/g{generation}/feed/{feed}"


def conditional_feed(generation: int, feed: int, entries: int) -> Any:
    from monitor.loopback import Reply, item, rss

    etag = f'"feed-{generation}-{feed}"'
    body = rss(
        [
            item(
                headline(generation, feed, e),
                f"https://bench{feed}.example/{generation}/{e}",
                f"{generation}-{feed}-{e}",
                summary="Summary text of the article with a few more words " * 3,
            )
            for e in range(entries)
        ],
        title=f"Bench feed {feed}",
        extra="<language>en</language>",  # as most real feeds do; nothing to detect
    )

    def route(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == etag:
            return Reply(304, {"ETag": etag})
        return Reply(200, {"ETag": etag, "Content-Type": "application/rss+xml"}, body)

    return route


def serve_feeds(feeds: int, entries: int, ports: multiprocessing.Queue[int]) -> None:
    """Runs in its own process, so serving competes with no tool for the GIL."""
    from monitor.loopback import FeedServer

    with FeedServer() as server:
        for generation in range(GENERATIONS):
            for n in range(feeds):
                server.add(feed_path(generation, n), conditional_feed(generation, n, entries))
        server.requests = NoRecord()
        ports.put(server.port)
        threading.Event().wait()


class NoRecord(list[Any]):
    """The server's request log, not kept: the benchmark never reads it."""

    def append(self, _item: Any) -> None:
        pass


# --- the tools, each run in a process of its own (`--tool NAME`) -----------------------------


def mark(name: str, **figures: Any) -> None:
    """Tell the parent a cycle ended, so it reads the CPU time of the tree now."""
    print(json.dumps({"mark": name, **figures}), flush=True)


def run_monitor(base: str, feeds: int, concurrency: int, db: Path) -> None:
    """Starts as `monitor fetch` does: imports, settings and database with the cyclic garbage
    collector paused (monitor.startup), then the cycles with it running."""
    from monitor.startup import collection_paused

    with collection_paused() as started:
        from sqlalchemy.orm import sessionmaker

        from monitor.config import Settings
        from monitor.ingest import open_ingestor
        from monitor.storage import migrate
        from monitor.storage.engine import open_engine
        from monitor.storage.feeds import add_feeds
        from monitor.values import FeedSpec

        settings = Settings(
            database={"url": f"sqlite:///{db}"},
            network={
                "allow_cidrs": ["127.0.0.0/8"],
                "per_host_concurrency": concurrency,
                "max_concurrency": concurrency,
            },
        )
        engine = open_engine(settings.database)
        migrate.upgrade(engine)
        sessions = sessionmaker(engine, expire_on_commit=False)
        started()
        now = datetime.now(UTC)

        def add_generation(generation: int) -> None:
            specs = [FeedSpec(base + feed_path(generation, n)) for n in range(feeds)]
            with sessions.begin() as session:
                add_feeds(session, specs, 900, now)

        async def cycles() -> None:
            async with open_ingestor(settings, sessions) as ingestor:
                print(json.dumps({"ready": True}), flush=True)
                for name, generation, at in (
                    ("cold", 0, now),
                    ("warm", 1, now),
                    ("304", None, now),
                ):
                    if generation is not None:
                        add_generation(generation)
                    else:
                        at = now + timedelta(hours=1)
                    ingestor.clock = lambda at=at: at
                    summary = await ingestor.run_cycle()
                    mark(
                        name,
                        feeds=summary.feeds_due,
                        entries=summary.new_articles,
                        not_modified=summary.feeds_not_modified,
                        failed=summary.feeds_failed,
                    )

        asyncio.run(cycles())
        engine.dispose()


def run_reader(base: str, feeds: int, concurrency: int, db: Path) -> None:
    from reader import make_reader

    reader = make_reader(str(db))
    print(json.dumps({"ready": True}), flush=True)

    def cycle(name: str, generation: int | None) -> None:
        before = reader.get_entry_counts().total
        if generation is not None:
            for n in range(feeds):
                reader.add_feed(base + feed_path(generation, n))
        results = list(
            reader.update_feeds_iter(
                new=True if generation is not None else None, scheduled=False, workers=concurrency
            )
        )
        failed = sum(isinstance(r.value, Exception) for r in results)
        not_modified = sum(r.value is None for r in results)
        entries = reader.get_entry_counts().total - before
        mark(
            name,
            feeds=len(results),
            entries=entries,
            not_modified=not_modified,
            failed=failed,
        )

    cycle("cold", 0)
    cycle("warm", 1)
    cycle("304", None)
    reader.close()


TOOLS: dict[str, Callable[[str, int, int, Path], None]] = {
    "monitor": run_monitor,
    "reader": run_reader,
}


# --- the parent: runs a tool and samples its process tree -----------------------------------


def descendants(pid: int) -> Iterator[int]:
    yield pid
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return
    for task in tasks:
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            yield from descendants(int(child))


def cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB; zeros when it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


@dataclass
class TreeSampler:
    """CPU seconds and peak memory of a process tree; a process that ended keeps the CPU time
    last seen (at most one sampling interval is lost)."""

    root: int
    cpu_by_pid: dict[int, float] = field(default_factory=dict)
    peak_rss_kb: int = 0
    peak_pss_kb: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sample(self) -> None:
        rss = pss = 0
        with self.lock:
            for pid in list(descendants(self.root)):
                seconds = cpu_s(pid)
                if seconds is not None:
                    self.cpu_by_pid[pid] = max(seconds, self.cpu_by_pid.get(pid, 0.0))
                process_rss, process_pss = memory_kb(pid)
                rss += process_rss
                pss += process_pss
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)

    def cpu_total_s(self) -> float:
        self.sample()
        return sum(self.cpu_by_pid.values())

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(SAMPLE_EVERY_S):
            self.sample()


def measure_tool(tool: str, base: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one tool in a fresh process; its figures per cycle and its peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, __file__, "--tool", tool, "--base", base, "--db", tmp]
        command += ["--feeds", str(args.feeds), "--concurrency", str(args.concurrency)]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        sampler = TreeSampler(child.pid)
        stop = threading.Event()
        thread = threading.Thread(target=sampler.run, args=(stop,), daemon=True)
        thread.start()
        cycles: dict[str, dict[str, Any]] = {}
        last_cpu, last_at = 0.0, started
        startup_s = 0.0
        assert child.stdout is not None
        for line in child.stdout:
            figures = json.loads(line)
            at, cpu = time.perf_counter(), sampler.cpu_total_s()
            if figures.get("ready"):  # part of the cold cycle, also shown on its own
                startup_s = at - started
                continue
            figures.update(wall_s=at - last_at, cpu_s=cpu - last_cpu)
            cycles[figures.pop("mark")] = figures
            last_cpu, last_at = cpu, at
        if child.wait() != 0:
            raise SystemExit(f"bench: {tool} failed (exit code {child.returncode})")
        stop.set()
        thread.join()
    return {
        "cycles": cycles,
        "startup_s": startup_s,
        "rss_mb": sampler.peak_rss_kb / 1024,
        "pss_mb": sampler.peak_pss_kb / 1024,
    }


def rates(result: dict[str, Any], cycle: str) -> tuple[float, float, float]:
    """entries/s, feeds/s and CPU ms per feed of one cycle."""
    figures = result["cycles"][cycle]
    wall = figures["wall_s"]
    return (
        figures["entries"] / wall,
        figures["feeds"] / wall,
        figures["cpu_s"] * 1000 / figures["feeds"],
    )


def print_tool(name: str, result: dict[str, Any]) -> None:
    print(f"{name:8} start-up (process start to ready to fetch): {result['startup_s']:.2f} s")
    for cycle, figures in result["cycles"].items():
        entries_s, feeds_s, cpu_ms = rates(result, cycle)
        print(
            f"{name:8} {cycle:5} cycle: {figures['wall_s']:6.2f} s  {feeds_s:7.1f} feeds/s  "
            f"{entries_s:8.1f} entries/s  {cpu_ms:6.1f} CPU-ms/feed  "
            f"(feeds {figures['feeds']}, new entries {figures['entries']}, "
            f"not modified {figures['not_modified']}, failed {figures['failed']})"
        )
    print(
        f"{name:8} peak memory of the process tree: RSS {result['rss_mb']:.0f} MB, "
        f"PSS {result['pss_mb']:.0f} MB"
    )


def print_ratios(ours: dict[str, Any], peer: dict[str, Any]) -> None:
    print("ratios monitor / reader (requirement):")
    for cycle in ("cold", "warm"):
        ratio = rates(ours, cycle)[0] / rates(peer, cycle)[0]
        verdict = "ok" if ratio >= REQUIREMENTS["full"] else "BELOW"
        print(
            f"  {cycle} full-cycle entries/s : {ratio:5.2f}x  (>= {REQUIREMENTS['full']:g}x) {verdict}"
        )
    ratio = rates(ours, "304")[1] / rates(peer, "304")[1]
    verdict = "ok" if ratio >= REQUIREMENTS["304"] else "BELOW"
    print(f"  304-cycle feeds/s         : {ratio:5.2f}x  (>= {REQUIREMENTS['304']:g}x) {verdict}")
    for cycle in ("cold", "warm", "304"):
        print(
            f"  {cycle} CPU per feed        : {rates(ours, cycle)[2] / rates(peer, cycle)[2]:5.2f}x"
        )
    for kind, key in (("RSS", "rss_mb"), ("PSS", "pss_mb")):
        ratio = ours[key] / peer[key]
        verdict = "ok" if ratio <= REQUIREMENTS["memory"] else "ABOVE"
        print(
            f"  peak {kind} of the tree      : {ratio:5.2f}x  (<= {REQUIREMENTS['memory']:g}x) {verdict}"
        )


def has_reader() -> bool:
    try:
        import reader  # noqa: F401
        import sgmllib  # type: ignore[import-not-found]  # noqa: F401  (reader's feedparser)
    except ImportError:
        return False
    return True


def compile_project() -> None:
    """Compile the project's modules to bytecode first, as pip does when it installs a package
    (reader's came compiled with its wheel). An editable install writes its bytecode on first
    use, unless PYTHONDONTWRITEBYTECODE is set, as it is on this project's machine: then every
    run would compile the project's modules from source again (about 40 ms of start-up)."""
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parent.parent / "monitor", quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--entries", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--vs-reader", action="store_true", help="run lemon24/reader too")
    parser.add_argument("--tool", choices=sorted(TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tool:
        TOOLS[args.tool](args.base, args.feeds, args.concurrency, Path(args.db) / "bench.db")
        return
    if args.vs_reader and not has_reader():
        raise SystemExit(
            "bench: --vs-reader needs lemon24/reader, which is not a project dependency; "
            "install it for the benchmark with `.venv/bin/pip install reader sgmllib3k`"
        )

    compile_project()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(
        target=serve_feeds, args=(args.feeds, args.entries, ports), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{ports.get(timeout=60)}"
    tools = ["monitor", "reader"] if args.vs_reader else ["monitor"]
    results = {tool: measure_tool(tool, base, args) for tool in tools}
    server.terminate()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"feeds: {args.feeds} x {args.entries} entries a generation, loopback HTTP server in its "
        f"own process, {args.concurrency} requests in flight, SQLite"
    )
    for tool, result in results.items():
        print_tool(tool, result)
    if args.vs_reader:
        print_ratios(results["monitor"], results["reader"])


if __name__ == "__main__":
    main()
