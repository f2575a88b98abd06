"""The web console page: served self-contained, with its CSP, and calling API routes that exist."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from api.routes import console

EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class _References(HTMLParser):
    """Every URL-carrying attribute, and the inline script and style text."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href", "srcset", "action", "data", "poster"):
            if values.get(name):
                self.refs.append((tag, name, values[name] or ""))
        if tag == "script":
            self.scripts.append(values)
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.inline.append(data)


@pytest.fixture
def page(client: TestClient) -> str:
    response = client.get("/console")
    assert response.status_code == 200
    return response.text


def parsed(text: str) -> _References:
    parser = _References()
    parser.feed(text)
    return parser


class TestConsolePage:
    def test_served_as_utf8_html_with_its_security_headers(self, client: TestClient) -> None:
        response = client.get("/console")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        policy = {part.split()[0]: part.split()[1:] for part in
                  response.headers["content-security-policy"].split(";") if part.strip()}
        assert policy["default-src"] == ["'self'"]
        assert policy["img-src"] == ["'self'", "data:", "*"]
        assert policy["script-src"] == ["'self'", "'unsafe-inline'"]
        assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
        assert "connect-src" not in policy  # fetch() stays on the API's own origin via default-src
        assert response.headers["x-content-type-options"] == "nosniff"
        assert '<meta charset="utf-8">' in response.text

    def test_needs_no_key_to_load(self, client: TestClient) -> None:
        assert client.get("/console", headers={"Authorization": "Bearer skx_wrong"}).status_code == 200

    def test_references_no_external_script_style_or_other_asset(self, page: str) -> None:
        refs = parsed(page)
        assert [s for s in refs.scripts if s.get("src")] == []  # inline script only
        assert "<link" not in page.lower()
        external = [(tag, name, url) for tag, name, url in refs.refs if EXTERNAL.match(url)]
        assert external == []
        inline = "\n".join(refs.inline)
        assert refs.inline, "the page's script and style are inline"
        assert not re.search(r"@import|url\(\s*['\"]?\s*(?:https?:)?//", inline, re.IGNORECASE)
        assert not re.search(r"""\b(?:fetch|import)\s*\(\s*['"`](?:https?:)?//""", inline)
        assert not re.search(r"""['"`]https?://""", inline)

    def test_builds_the_dom_without_inner_html(self, page: str) -> None:
        # file names, SKUs and tenant data are user input: the script only ever sets text
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", page)

    @pytest.mark.parametrize(("literal", "method", "url"), [
        ('"/v1/media"', "POST", "/v1/media"),
        ('"/v1/media/"', "GET", "/v1/media/ast_x"),
        ('"/v1/media/search"', "POST", "/v1/media/search"),
        ("`/v1/uploads?limit=", "GET", "/v1/uploads?limit=50"),
        ('"/v1/uploads/"', "GET", "/v1/uploads/upl_x"),
        ('"/v1/skus?limit=', "GET", "/v1/skus?limit=200"),
        ("`/v1/skus/${", "GET", "/v1/skus/茶叶-绿茶/listing?platform=amazon"),
        ('"/v1/platforms"', "GET", "/v1/platforms"),
    ])
    def test_calls_only_api_routes_that_exist(self, client: TestClient, page: str, literal: str, method: str,
                                              url: str) -> None:
        assert literal in page
        response = client.request(method, url)  # no key: an existing route answers 401 (or 200), not 404/405
        assert response.status_code in (200, 401), response.json()

    def test_the_page_file_ships_with_the_package(self) -> None:
        assert console.PAGE.is_file()
        assert console.PAGE.name == "console.html"


def test_root_redirects_to_the_console(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console"
    assert client.get("/").url.path == "/console"
