"""The API docs work offline: /docs and /redoc load only files this server serves, hold no
inline script, and every endpoint and parameter carries a description."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from monitor.api.app import create_app
from monitor.config import Settings


class Assets(HTMLParser):
    """The scripts and stylesheets a page loads, and any inline script text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_script = ""
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.in_script = True
            if values.get("src"):
                self.urls.append(values["src"] or "")
        elif tag == "link" and values.get("href"):
            self.urls.append(values["href"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            self.inline_script += data.strip()


@pytest.fixture
def api(sqlite_sessions: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), sqlite_sessions, None)) as client:
        yield client


def assets_of(api: TestClient, path: str) -> Assets:
    response = api.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assets = Assets()
    assets.feed(response.text)
    return assets


class TestOfflineDocs:
    @pytest.mark.parametrize(
        ("path", "expected"),
        [("/docs", {".js": 2, ".css": 1}), ("/redoc", {".js": 1})],
    )
    def test_every_asset_is_local_and_served(
        self, api: TestClient, path: str, expected: dict[str, int]
    ) -> None:
        """Each script and stylesheet is a path on this server (no CDN) and answers 200 with
        its own content type."""
        assets = assets_of(api, path)
        assert "cdn." not in api.get(path).text
        for suffix, count in expected.items():
            assert sum(url.endswith(suffix) for url in assets.urls) == count
        for url in assets.urls:
            assert url.startswith("/") and not url.startswith("//"), url
            response = api.get(url)
            assert response.status_code == 200 and len(response.content) > 200, url
            kind = {"js": "javascript", "css": "text/css", "png": "image/png"}[url.rsplit(".")[-1]]
            assert kind in response.headers["content-type"], url

    @pytest.mark.parametrize("path", ["/docs", "/redoc"])
    def test_no_inline_script(self, api: TestClient, path: str) -> None:
        """The pages start their scripts from files, so the policy needs no 'unsafe-inline'
        for scripts."""
        assert assets_of(api, path).inline_script == ""
        assert (
            "unsafe-inline"
            not in api.get(path)
            .headers["content-security-policy"]
            .split("script-src")[1]
            .split(";")[0]
        )

    def test_swagger_ui_is_pointed_at_the_schema(self, api: TestClient) -> None:
        """The start-up script reads the schema's URL from the page, which names /openapi.json."""
        assert "data-openapi-url='/openapi.json'" in api.get("/docs").text
        assert "SwaggerUIBundle" in api.get("/static/monitor/swagger-init.js").text
        assert api.get("/openapi.json").status_code == 200


class TestDescriptions:
    def test_every_operation_has_a_summary_and_description(self, api: TestClient) -> None:
        """Each endpoint in the schema says what it does."""
        paths = api.get("/openapi.json").json()["paths"]
        missing = [
            f"{method.upper()} {path}"
            for path, operations in paths.items()
            for method, operation in operations.items()
            if not operation.get("summary") or not operation.get("description")
        ]
        assert missing == []

    def test_every_parameter_has_a_description(self, api: TestClient) -> None:
        """Each path and query parameter is described."""
        paths = api.get("/openapi.json").json()["paths"]
        missing = [
            f"{method.upper()} {path} {parameter['name']}"
            for path, operations in paths.items()
            for method, operation in operations.items()
            for parameter in operation.get("parameters", [])
            if not parameter.get("description")
        ]
        assert missing == []

    def test_body_fields_are_described(self, api: TestClient) -> None:
        """The feed body's fields are described too."""
        schema = api.get("/openapi.json").json()["components"]["schemas"]["FeedIn"]
        assert all(field.get("description") for field in schema["properties"].values())
