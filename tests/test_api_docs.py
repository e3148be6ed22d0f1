"""The interactive API docs work offline: every asset is served by the app itself, under the strict CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient


class _Refs(HTMLParser):
    """Collects the URLs a page loads (script src, link href) and the text of inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.urls.append(a["src"] or "")
            elif a.get("type") != "application/json":
                self._in_script = True
        elif tag == "link" and a.get("href"):
            self.urls.append(a["href"] or "")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from classifier.predict import Classifier
    from serving.app import create_app
    from serving.settings import ServiceSettings

    settings = ServiceSettings(data_dir=tmp_path_factory.mktemp("docs"))
    with TestClient(create_app(settings, classifier=Classifier.load("keyword"))) as c:
        yield c


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client, path):
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = _Refs()
    refs.feed(r.text)
    assert refs.urls, r.text
    assert refs.inline_scripts == []  # the CSP forbids them; docs.js starts Swagger UI
    for url in refs.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    csp = r.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp)
    assert script_src and script_src.group(1).split() == ["'self'"]
    assert "http" not in csp  # no CDN anywhere


def test_swagger_page_points_at_the_spec_and_its_files(client):
    html = client.get("/docs").text
    assert 'data-openapi-url="/openapi.json"' in html
    assert "/static-docs/swagger-ui-bundle.js" in html and "/static/docs.js" in html
    bundle = client.get("/static-docs/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text[:2000]
    assert "SwaggerUIBundle(" in client.get("/static/docs.js").text
    assert client.get("/openapi.json").json()["info"]["title"] == "SurveilRisk"
