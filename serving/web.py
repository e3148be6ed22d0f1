"""The compliance web page: one server-rendered shell plus static files, all served locally."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from classifier.policy import ACTION_IDS, END_USER_TYPES, country_names
from serving.deps import StateDep

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
static_files = StaticFiles(directory=str(HERE / "static"))
router = APIRouter(include_in_schema=False)


def _page(request: Request, state: StateDep) -> HTMLResponse:
    tax = state.classifier.taxonomy
    taxonomy = {
        "capabilities": [{"id": c.id, "name": c.name} for c in tax.capabilities],
        "risk_factors": [{"id": r.id, "name": r.name} for r in tax.risk_factors],
        "tiers": [{"id": t} for t in tax.tier_meanings],
    }
    names = country_names()
    config = {"end_user_types": list(END_USER_TYPES), "actions": list(ACTION_IDS), "countries": names}
    # `</` cannot end the inline JSON early: escape it for the script element
    dump = lambda obj: json.dumps(obj).replace("</", "<\\/")  # noqa: E731
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "countries": sorted(names.items(), key=lambda kv: kv[1]),
            "taxonomy_json": dump(taxonomy),
            "config_json": dump(config),
        },
    )


@router.get("/", response_class=HTMLResponse)
def index(request: Request, state: StateDep) -> HTMLResponse:
    return _page(request, state)


@router.get("/screenings/{screening_id}", response_class=HTMLResponse)
def screening_page(screening_id: str, request: Request, state: StateDep) -> HTMLResponse:
    """Permalink: the same page, which opens the screening after sign-in."""
    return _page(request, state)
