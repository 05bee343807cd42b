from __future__ import annotations

import asyncio
import gzip
import time
import tracemalloc
import zlib
from collections.abc import Sequence
from datetime import timedelta

import httpx
import pytest

from monitor.config import NetworkSettings
from monitor.errors import (
    BlockedAddressError,
    BodyTooLargeError,
    DeadlineExceededError,
    ErrorClass,
    FetchError,
    HTTPStatusError,
    InvalidURLError,
    TooManyRedirectsError,
)
from monitor.fetch import (
    BodyDecoder,
    Validators,
    fetch_feed,
    host_key,
    open_client,
    parse_retry_after,
    request_headers,
    sane_headers,
    status_error,
)
from monitor.loopback import FeedServer, Reply, item, rss
from monitor.values import FetchedBody
from tests.conftest import SettingsFactory
from tests.factories import NOW

FEED = rss([item("Hello", "https://e.org/1", "1")])


class StaticResolver:
    """Resolves chosen names to chosen addresses; everything else like the system."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        return [self.table.get(host, host)]


def fetch(
    settings: NetworkSettings,
    url: str,
    validators: Validators | None = None,
    resolver: StaticResolver | None = None,
) -> FetchedBody:
    async def run() -> FetchedBody:
        async with open_client(settings, resolver) as client:
            return await fetch_feed(client, url, validators or Validators(), settings)

    return asyncio.run(run())


@pytest.fixture
def network(make_settings: SettingsFactory) -> NetworkSettings:
    return make_settings().network


def gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip body of all zeros: about 1 MB per GiB inflated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(inflated_bytes >> 20)]
    return b"".join(parts) + compressor.flush()


class TestConditionalGet:
    def test_validators_sent_and_304_returns_no_body(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """ETag and Last-Modified go back as If-None-Match / If-Modified-Since; 304 has no body."""

        def route(headers: dict[str, str]) -> Reply:
            if headers.get("if-none-match") == '"v1"':
                return Reply(304, {"ETag": '"v1"'})
            return Reply(
                200, {"ETag": '"v1"', "Last-Modified": "Mon, 02 Nov 2026 10:00:00 GMT"}, FEED
            )

        url = feed_server.add("/feed", route)
        first = fetch(network, url)
        second = fetch(
            network, url, Validators(first.headers["etag"], first.headers["last-modified"])
        )
        assert (first.status, second.status) == (200, 304)
        assert second.is_not_modified and second.body == b""
        sent = feed_server.hits("/feed")[1]
        assert sent["if-none-match"] == '"v1"'
        assert sent["if-modified-since"] == "Mon, 02 Nov 2026 10:00:00 GMT"

    def test_own_user_agent(self, feed_server: FeedServer, network: NetworkSettings) -> None:
        """Every request carries monitor's User-Agent."""
        fetch(network, feed_server.add("/ua", Reply(body=FEED)))
        assert feed_server.hits("/ua")[0]["user-agent"].startswith("monitor/")


class TestConnectionPool:
    def test_idle_connections_kept_to_the_keepalive_limit_and_reused(
        self, feed_server: FeedServer, make_settings: SettingsFactory
    ) -> None:
        """Twelve requests at once open the pool's eight connections, the other four wait for
        one to come free; once all are answered, the four over the keep-alive limit are
        closed, and later requests reuse the four kept, opening none."""
        settings = make_settings(network={"max_concurrency": 4}).network

        def slow(_headers: dict[str, str]) -> Reply:
            time.sleep(0.2)  # the first eight are in flight together
            return Reply(body=FEED)

        slow_url = feed_server.add("/slow", slow)
        quick_url = feed_server.add("/quick", Reply(body=FEED))

        async def run() -> tuple[list[int], int, list[object], list[object]]:
            async with open_client(settings) as client:
                pool = client._transport._pool  # type: ignore[attr-defined]
                first = asyncio.gather(
                    *(fetch_feed(client, slow_url, Validators(), settings) for _ in range(12))
                )
                await asyncio.sleep(0.1)
                in_flight = len(pool.connections)
                bodies = await first
                kept = list(pool.connections)
                for _ in range(10):
                    await fetch_feed(client, quick_url, Validators(), settings)
                return [b.status for b in bodies], in_flight, kept, list(pool.connections)

        statuses, in_flight, kept, after = asyncio.run(run())
        assert statuses == [200] * 12
        assert in_flight == 8
        assert len(kept) == 4
        assert set(map(id, after)) == set(map(id, kept))


class TestLimits:
    def test_slow_drip_cut_off_by_total_deadline(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """A server sending a byte every 0.2 s never hits the read timeout but meets the deadline."""
        url = feed_server.add("/drip", Reply(body=FEED, chunk_delay_s=0.2))
        settings = network.model_copy(update={"total_deadline_s": 1.0, "read_timeout_s": 5.0})
        started = time.monotonic()
        with pytest.raises(DeadlineExceededError) as caught:
            fetch(settings, url)
        assert time.monotonic() - started < 2.5
        assert caught.value.error_class is ErrorClass.TRANSIENT

    @pytest.mark.slow
    def test_gzip_bomb_refused_with_bounded_memory(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """A ~1 MB gzip inflating to 1 GiB is refused at the cap; peak memory stays small."""
        bomb = gzip_bomb(1 << 30)
        assert len(bomb) < 1_200_000
        url = feed_server.add("/bomb", Reply(headers={"Content-Encoding": "gzip"}, body=bomb))
        settings = network.model_copy(update={"max_body_bytes": 5_000_000})
        del bomb
        tracemalloc.start()
        try:
            with pytest.raises(BodyTooLargeError):
                fetch(settings, url)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 40_000_000, f"peak traced memory {peak / 1e6:.1f} MB"

    def test_gzip_and_deflate_bodies_decoded(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """gzip, zlib-wrapped deflate and raw deflate all decode to the document."""
        raw = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw_deflate = raw.compress(FEED) + raw.flush()
        for path, encoding, body in [
            ("/gz", "gzip", gzip.compress(FEED)),
            ("/zl", "deflate", zlib.compress(FEED)),
            ("/rd", "deflate", raw_deflate),
        ]:
            got = fetch(
                network,
                feed_server.add(path, Reply(headers={"Content-Encoding": encoding}, body=body)),
            )
            assert got.body == FEED

    def test_plain_body_over_cap(self, feed_server: FeedServer, network: NetworkSettings) -> None:
        """An uncompressed body larger than the cap is refused too."""
        url = feed_server.add("/big", Reply(body=b"x" * 300_000))
        with pytest.raises(BodyTooLargeError):
            fetch(network.model_copy(update={"max_body_bytes": 100_000}), url)

    def test_redirect_limit(self, feed_server: FeedServer, network: NetworkSettings) -> None:
        """A redirect loop stops at max_redirects."""
        feed_server.add("/loop", Reply(302, {"Location": "/loop"}))
        with pytest.raises(TooManyRedirectsError):
            fetch(network.model_copy(update={"max_redirects": 3}), feed_server.url("/loop"))
        assert len(feed_server.hits("/loop")) == 4

    def test_redirect_followed(self, feed_server: FeedServer, network: NetworkSettings) -> None:
        """A relative redirect is followed to the feed; the final URL is reported."""
        feed_server.add("/old", Reply(301, {"Location": "/new"}))
        url = feed_server.add("/new", Reply(body=FEED))
        assert fetch(network, feed_server.url("/old")).final_url == url


class TestStatusClassification:
    @pytest.mark.parametrize(
        ("status", "headers", "error_class", "retry_after"),
        [
            (500, {}, ErrorClass.TRANSIENT, None),
            (404, {}, ErrorClass.PERMANENT, None),
            (410, {}, ErrorClass.PERMANENT, None),
            (429, {"Retry-After": "120"}, ErrorClass.RATE_LIMITED, 120.0),
            (503, {"Retry-After": "30"}, ErrorClass.RATE_LIMITED, 30.0),
            (503, {}, ErrorClass.TRANSIENT, None),
        ],
    )
    def test_status(
        self,
        feed_server: FeedServer,
        network: NetworkSettings,
        status: int,
        headers: dict[str, str],
        error_class: ErrorClass,
        retry_after: float | None,
    ) -> None:
        """Each error status is classified once, with Retry-After where given."""
        url = feed_server.add(f"/s{status}", Reply(status, headers, b"error page"))
        with pytest.raises(HTTPStatusError) as caught:
            fetch(network, url)
        assert caught.value.error_class is error_class
        assert caught.value.retry_after_s == retry_after

    def test_retry_after_http_date(self) -> None:
        """Retry-After may be an HTTP date."""
        assert parse_retry_after("Sun, 22 Nov 2026 12:10:00 GMT", NOW) == 600.0
        assert parse_retry_after("soon", NOW) is None

    def test_classifier_takes_now(self) -> None:
        """The status classifier is pure: a Retry-After date is measured from the `now` given."""
        later = status_error(503, "Sun, 22 Nov 2026 12:10:00 GMT", NOW + timedelta(minutes=4))
        assert (later.error_class, later.retry_after_s) == (ErrorClass.RATE_LIMITED, 360.0)

    def test_retry_after_date_measured_from_the_fetch_clock(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """fetch_feed dates a Retry-After HTTP date with the clock it is given."""
        url = feed_server.add(
            "/later", Reply(429, {"Retry-After": "Sun, 22 Nov 2026 12:10:00 GMT"}, b"")
        )

        async def run() -> None:
            async with open_client(network) as client:
                await fetch_feed(client, url, Validators(), network, clock=lambda: NOW)

        with pytest.raises(HTTPStatusError) as caught:
            asyncio.run(run())
        assert caught.value.retry_after_s == 600.0

    @pytest.mark.parametrize("value", ["²", "9" * 5000, "soon", "-5"])
    def test_garbage_retry_after_on_503_is_transient(
        self, feed_server: FeedServer, network: NetworkSettings, value: str
    ) -> None:
        """A Retry-After that is not a bounded ASCII number or a date is ignored."""
        url = feed_server.add("/busy", Reply(503, {"Retry-After": value}, b"busy"))
        with pytest.raises(HTTPStatusError) as caught:
            fetch(network, url)
        assert (caught.value.error_class, caught.value.retry_after_s) == (
            ErrorClass.TRANSIENT,
            None,
        )

    def test_connection_refused_is_transient(self, network: NetworkSettings) -> None:
        """Nothing listening: a transient error, no exception escapes."""
        with pytest.raises(FetchError) as caught:
            fetch(network, "http://127.0.0.1:9/feed")
        assert caught.value.error_class is ErrorClass.TRANSIENT


class TestInvalidURL:
    @pytest.mark.parametrize(
        "url",
        [
            "http://0177.0.0.1/feed",
            "http://127.000.000.001/feed",
            "http://[::1/feed",
            "http://a..b/feed",
            "http://xn--a/feed",
            "http://" + "a" * 64 + ".example/feed",
        ],
    )
    def test_unparseable_url_is_permanent(self, network: NetworkSettings, url: str) -> None:
        """Hosts httpx or idna refuse raise InvalidURLError (permanent, one clear line)."""
        with pytest.raises(InvalidURLError, match=r"^invalid ") as caught:
            fetch(network, url)
        assert caught.value.error_class is ErrorClass.PERMANENT

    def test_unparseable_redirect_target_is_permanent(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """A redirect to `0177.0.0.1` is refused at the hop like a feed URL would be."""
        url = feed_server.add("/hop", Reply(302, {"Location": "http://0177.0.0.1/feed"}))
        with pytest.raises(InvalidURLError, match=r"0177\.0\.0\.1"):
            fetch(network, url)

    def test_host_limiter_accepts_any_url(self) -> None:
        """The per-host limiter keys a URL it cannot parse by the URL itself, never raising."""
        assert host_key("http://0177.0.0.1/x") == "http://0177.0.0.1/x"
        assert host_key("http://News.Example.org:8080/x") == "news.example.org"


class TestSaneHeaders:
    def test_validators_over_limit_or_not_printable_ascii_dropped(self) -> None:
        """An ETag over 1,024 characters, a Last-Modified over 128 or one with a control or
        non-ASCII character is dropped; other headers are kept, by lower-case name."""
        headers = httpx.Headers(
            [
                ("ETag", '"' + "e" * 1100 + '"'),
                ("Last-Modified", "x" * 129),
                ("Cache-Control", "max-age=60"),
            ]
        )
        assert sane_headers(headers) == {"cache-control": "max-age=60"}
        assert sane_headers(httpx.Headers([(b"ETag", b'"caf\xe9"')])) == {}
        assert sane_headers(httpx.Headers({"ETag": '"' + "e" * 1022 + '"'})) == {
            "etag": '"' + "e" * 1022 + '"'
        }

    def test_stored_insane_validator_not_sent(self) -> None:
        """A validator stored before it was checked is not sent back."""
        headers = request_headers(Validators('"caf\xe9"', "x" * 200))
        assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


class TestSSRFGuard:
    @pytest.mark.parametrize(
        "host", ["127.0.0.1", "[::ffff:127.0.0.1]", "0x7f000001", "2130706433"]
    )
    def test_loopback_spellings_blocked_by_default(
        self, feed_server: FeedServer, network: NetworkSettings, host: str
    ) -> None:
        """Loopback in any spelling is refused before a request is sent, as a configuration
        problem whose message names the setting that would allow it."""
        feed_server.add("/feed", Reply(body=FEED))
        port = feed_server.port
        with pytest.raises(BlockedAddressError) as caught:
            fetch(network.model_copy(update={"allow_cidrs": ()}), f"http://{host}:{port}/feed")
        assert caught.value.error_class is ErrorClass.CONFIG
        assert "allow it with [network] allow_cidrs" in str(caught.value)
        assert feed_server.hits("/feed") == []

    def test_odd_spelling_reaches_an_allowed_range(
        self, feed_server: FeedServer, network: NetworkSettings
    ) -> None:
        """`0x7f000001` really is 127.0.0.1: with the loopback CIDR allowed it is fetched."""
        feed_server.add("/feed", Reply(body=FEED))
        port = feed_server.port
        assert fetch(network, f"http://0x7f000001:{port}/feed").body == FEED

    def test_metadata_address_blocked(self, network: NetworkSettings) -> None:
        """The cloud metadata address is refused without connecting."""
        with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254"):
            fetch(network, "http://169.254.169.254/latest/meta-data/")

    def test_public_name_redirecting_to_localhost(self, network: NetworkSettings) -> None:
        """A public-looking host that redirects to 127.0.0.1 is blocked at the hop, and followed
        only when the loopback range is allowed."""
        with FeedServer("127.0.0.2") as public, FeedServer("127.0.0.1") as internal:
            internal.add("/secret", Reply(body=FEED))
            public.add("/feed", Reply(302, {"Location": internal.url("/secret")}))
            port = public.port
            resolver = StaticResolver({"news.example.org": "127.0.0.2"})
            url = f"http://news.example.org:{port}/feed"
            only_public = network.model_copy(
                update={"allow_cidrs": (NetworkSettings(allow_cidrs=["127.0.0.2/32"]).allow_cidrs)}
            )
            with pytest.raises(BlockedAddressError, match=r"127\.0\.0\.1"):
                fetch(only_public, url, resolver=resolver)
            assert len(public.hits("/feed")) == 1 and internal.hits("/secret") == []
            assert fetch(network, url, resolver=resolver).body == FEED


class TestBodyDecoder:
    def test_unsupported_encoding_refused(self) -> None:
        """A Content-Encoding we did not ask for (br) is an error, not garbage."""
        with pytest.raises(FetchError, match="unsupported Content-Encoding"):
            BodyDecoder("br", 1000)

    def test_multi_member_gzip(self) -> None:
        """Concatenated gzip members decode completely."""
        decoder = BodyDecoder("gzip", 1000)
        decoder.feed(gzip.compress(b"abc") + gzip.compress(b"def"))
        assert decoder.finish() == b"abcdef"
