"""Interactive API docs that work without Internet access (air-gapped compliance networks).

Swagger UI and ReDoc come from the `fastapi-offline` package's static files, served under
/static-docs. Swagger UI is started from /static/docs.js rather than FastAPI's inline script,
so the docs pages run under a CSP without 'unsafe-inline' scripts or any CDN.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/static-docs"
router = APIRouter(include_in_schema=False)


def assets_dir() -> Path:
    """The folder of the installed Swagger UI and ReDoc files (found without importing the package)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the API docs need the fastapi-offline package: pip install 'surveilrisk[serve]'")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def assets() -> StaticFiles:
    return StaticFiles(directory=str(assets_dir()))


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    from serving.web import templates

    root = request.scope.get("root_path", "")
    return templates.TemplateResponse(
        request,
        "docs.html",
        {"title": f"{request.app.title} API", "openapi_url": f"{root}{request.app.openapi_url}", "root": root},
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} API reference",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}/static/favicon.svg",
        with_google_fonts=False,
    )
