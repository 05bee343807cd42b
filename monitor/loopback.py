"""A small HTTP server on 127.0.0.1 serving feeds by path: for the benchmarks, the tests and
an offline demo. Routes are `Reply` values or functions of the request headers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | Iterable[bytes] = b""
    chunk_delay_s: float = 0.0


Route = Callable[[dict[str, str]], Reply]


def constant_route(reply: Reply) -> Route:
    return lambda _headers: reply


class QuietHTTPServer(ThreadingHTTPServer):
    request_queue_size = 256

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-request (deadline tests) are expected here."""


class FeedServer:
    """Serve `Reply`s by path; every request's headers are recorded in `requests`."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append((self.path, headers))
                route = server.routes.get(self.path.split("?")[0])
                reply = route(headers) if route else Reply(404, body=b"not found")
                server.send(self, reply)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = QuietHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def host(self) -> str:
        return str(self.httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        return self.base_url + path

    def add(self, path: str, reply: Reply | Route) -> str:
        self.routes[path] = reply if callable(reply) else constant_route(reply)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [headers for p, headers in self.requests if p.split("?")[0] == path]

    def send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        chunks = [reply.body] if isinstance(reply.body, bytes) else reply.body
        streaming = not isinstance(reply.body, bytes) or reply.chunk_delay_s > 0
        try:
            handler.send_response(reply.status)
            for key, value in reply.headers.items():
                handler.send_header(key, value)
            if streaming:
                handler.send_header("Connection", "close")
            else:
                handler.send_header("Content-Length", str(len(reply.body)))  # type: ignore[arg-type]
            handler.end_headers()
            for chunk in chunks:
                if reply.chunk_delay_s:
                    for byte in range(len(chunk)):
                        handler.wfile.write(chunk[byte : byte + 1])
                        handler.wfile.flush()
                        time.sleep(reply.chunk_delay_s)
                else:
                    handler.wfile.write(chunk)
            if streaming:
                handler.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            pass

    def __enter__(self) -> FeedServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def rss(items: Iterable[str], title: str = "Test feed", extra: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.org/</link>{extra}"
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def item(
    title: str,
    link: str | None = None,
    guid: str | None = None,
    date: str | None = "Mon, 02 Nov 2026 10:00:00 GMT",
    summary: str = "",
) -> str:
    parts = [f"<title>{title}</title>"]
    if link is not None:
        parts.append(f"<link>{link}</link>")
    if guid is not None:
        parts.append(f'<guid isPermaLink="false">{guid}</guid>')
    if date is not None:
        parts.append(f"<pubDate>{date}</pubDate>")
    if summary:
        parts.append(f"<description>{summary}</description>")
    return "<item>" + "".join(parts) + "</item>"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


Responder = Callable[[Received], Reply]


class WebhookSink:
    """An HTTP receiver on 127.0.0.1 that records every POST and answers with `responder`."""

    def __init__(self, responder: Responder | None = None, host: str = "127.0.0.1") -> None:
        self.received: list[Received] = []
        self.responder: Responder = responder or (lambda _r: Reply(204))
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
                with sink.lock:
                    sink.received.append(request)
                reply = sink.responder(request)
                if reply.chunk_delay_s:
                    time.sleep(reply.chunk_delay_s)
                body = reply.body if isinstance(reply.body, bytes) else b"".join(reply.body)
                try:
                    self.send_response(reply.status)
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = QuietHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.httpd.server_address[0]!s}:{int(self.httpd.server_address[1])}{path}"

    def __enter__(self) -> WebhookSink:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
