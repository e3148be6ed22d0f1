"""The reviewers' worklist: unreviewed screenings ranked by what a wrong answer would cost, and claims."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from serving.auth import Principal
from serving.deps import ReviewerDep, SessionDep, StateDep, write_session
from serving.errors import APIError
from serving.reviewing import claim_for_review, label_names, load_screening
from serving.schemas import ClaimOut, ErrorBody, WorklistItem, WorklistPage
from serving.service import screening_summary
from serving.store import records_of, release
from serving.worklist import ranked, status_counts

router = APIRouter(prefix="/v1/worklist", tags=["worklist"])
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (401, 403, 404, 409, 422)}


@router.get("", response_model=WorklistPage, responses=ERRORS)
def worklist(
    state: StateDep,
    session: SessionDep,
    principal: ReviewerDep,
    status: Annotated[Literal["open", "in_review"] | None, Query(description="Only open or only claimed ones.")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WorklistPage:
    """Screenings nobody has reviewed yet, highest expected cost of a mistake first (severity × uncertainty).
    With the four-eyes rule on, your own screenings are left out: someone else reviews them."""
    own = principal.key_id if state.settings.four_eyes else None
    entries = ranked(
        session,
        state.policy,
        dict(state.classifier.model.thresholds),
        scan=state.settings.worklist_scan,
        status=status,
        exclude_creator=own,
        names=label_names(state.classifier.taxonomy),
    )
    chunk = entries[(page - 1) * page_size : page * page_size]
    records = records_of(session, [e.screening.id for e in chunk])
    items = [
        WorklistItem(
            screening=screening_summary(e.screening, records[e.screening.id], e.claim is not None),
            priority=e.priority.score,
            severity=e.priority.severity,
            uncertainty=e.priority.uncertainty,
            why=e.priority.why,
            claim=ClaimOut.model_validate(e.claim) if e.claim is not None else None,
        )
        for e in chunk
    ]
    return WorklistPage(
        items=items, counts=status_counts(session, None), total=len(entries), page=page, page_size=page_size
    )


@router.post("/{screening_id}/claim", response_model=ClaimOut, responses=ERRORS)
def claim(screening_id: str, state: StateDep, principal: ReviewerDep) -> ClaimOut:
    """Take a screening to review (or renew your claim); another reviewer's unexpired claim answers 409."""
    with write_session(state) as session:
        _, c = claim_for_review(session, state.settings, principal, screening_id)
        return ClaimOut.model_validate(c)


@router.delete("/{screening_id}/claim", status_code=204, responses=ERRORS)
def unclaim(screening_id: str, state: StateDep, principal: ReviewerDep) -> None:
    """Give a screening back to the worklist (your own claim; an admin may drop anyone's)."""
    with write_session(state) as session:
        _release(session, screening_id, principal)


def _release(session: Session, screening_id: str, principal: Principal) -> None:
    load_screening(session, screening_id, principal)
    if not release(session, screening_id, None if principal.can("admin") else principal.key_id):
        raise APIError(404, "not_found", "you hold no claim on this screening")
