"""The compliance web page: one server-rendered shell plus static files, all served locally."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from classifier.policy import ACTION_IDS, END_USER_TYPES, country_names
from classifier.review import REASONS
from serving.deps import StateDep

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
static_files = StaticFiles(directory=str(HERE / "static"))
router = APIRouter(include_in_schema=False)
# Display names (with their source) for the destination groups of the shipped policy; others show their id.
GROUP_NAMES = {
    "eu_eu001": "EU/EEA and EU001 destinations (Reg. 2021/821 Annex II)",
    "eu_restrictive_measures": "under EU restrictive measures (EU Sanctions Map)",
    "human_rights_concern": "human-rights concern (Freedom House 'Not Free')",
    "rest_of_world": "rest of the world",
}


def _page(request: Request, state: StateDep) -> HTMLResponse:
    tax = state.classifier.taxonomy
    taxonomy = {
        "capabilities": [{"id": c.id, "name": c.name} for c in tax.capabilities],
        "risk_factors": [{"id": r.id, "name": r.name} for r in tax.risk_factors],
        "tiers": [{"id": t} for t in tax.tier_meanings],
    }
    names = country_names()
    groups = {g: GROUP_NAMES.get(g, g.replace("_", " ")) for g in state.policy.group_names}
    config = {
        "end_user_types": list(END_USER_TYPES),
        "actions": list(ACTION_IDS),
        "countries": names,
        "groups": groups,
        "four_eyes": state.settings.four_eyes,
        "max_upload_bytes": state.settings.max_upload_bytes,
        "review_reasons": REASONS,
    }
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
