"""Memory bound of the fetcher against a gzip bomb: ~1 MB on the wire, 1 GiB inflated, served
from 127.0.0.1; prints the peak memory the fetch allocated (tracemalloc) and the RSS growth.

    .venv/bin/python bench/gzip_bomb.py
"""

from __future__ import annotations

import asyncio
import resource
import time
import tracemalloc
import zlib

from monitor.config import NetworkSettings
from monitor.errors import BodyTooLargeError
from monitor.fetch import Validators, fetch_feed, open_client
from monitor.loopback import FeedServer, Reply

INFLATED_BYTES = 1 << 30


def gzip_of_zeros(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    return b"".join(compressor.compress(block) for _ in range(size >> 20)) + compressor.flush()


async def fetch_bomb(url: str, settings: NetworkSettings) -> str:
    async with open_client(settings) as client:
        try:
            await fetch_feed(client, url, Validators(), settings)
        except BodyTooLargeError as exc:
            return f"refused: {exc}"
    return "accepted (unexpected)"


def main() -> None:
    bomb = gzip_of_zeros(INFLATED_BYTES)
    settings = NetworkSettings(allow_cidrs=["127.0.0.0/8"])
    with FeedServer() as server:
        url = server.add("/bomb", Reply(headers={"Content-Encoding": "gzip"}, body=bomb))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        started = time.perf_counter()
        outcome = asyncio.run(fetch_bomb(url, settings))
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"bomb: {len(bomb) / 1e6:.2f} MB gzip -> {INFLATED_BYTES / 2**30:.0f} GiB inflated")
    print(f"cap : max_body_bytes = {settings.max_body_bytes:,} (default)")
    print(f"result: {outcome} in {elapsed:.2f} s")
    print(f"peak traced allocations during the fetch: {peak / 1e6:.1f} MB")
    print(f"peak RSS growth during the fetch: {rss_after - rss_before:.1f} MB")


if __name__ == "__main__":
    main()
