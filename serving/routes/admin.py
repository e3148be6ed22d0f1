"""API keys, the caller's identity and the feedback export (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import StreamingResponse

from serving.auth import count_active_admins, create_key, list_keys, revoke_key, set_role
from serving.deps import AdminDep, ScreenerDep, SessionDep, StateDep, write_session
from serving.errors import APIError
from serving.feedback import export_lines
from serving.schemas import KeyCreate, KeyCreated, KeyOut, KeyRoleChange, WhoAmI
from serving.tables import ApiKey

KeyId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The key's numeric id.")]

router = APIRouter(prefix="/v1", tags=["administration"])


def _key_out(k: ApiKey) -> KeyOut:
    return KeyOut.model_validate(k, from_attributes=True)


@router.get("/me", response_model=WhoAmI)
def me(principal: ScreenerDep) -> WhoAmI:
    """Who the API key belongs to and its role."""
    return WhoAmI.model_validate(principal, from_attributes=True)


@router.get("/keys", response_model=list[KeyOut])
def keys(session: SessionDep, _: AdminDep) -> list[KeyOut]:
    """All API keys (secrets are never shown again)."""
    return [_key_out(k) for k in list_keys(session)]


@router.post("/keys", status_code=201, response_model=KeyCreated)
def new_key(body: KeyCreate, state: StateDep, principal: AdminDep) -> KeyCreated:
    """Create a key; the response is the only time its secret is shown (recorded in the audit chain)."""
    with write_session(state) as session:
        row, secret = create_key(session, role=body.role, name=body.name, actor=principal)
    return KeyCreated(**_key_out(row).model_dump(), key=secret)


@router.delete("/keys/{key_id}", status_code=204)
def delete_key(key_id: KeyId, state: StateDep, principal: AdminDep) -> None:
    """Revoke a key (kept for the audit trail; the revocation is an audit event)."""
    with write_session(state) as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise APIError(404, "not_found", f"no key {key_id}")
        if row.role == "admin" and row.revoked_at is None and count_active_admins(session) <= 1:
            raise APIError(409, "last_admin", "this is the last active admin key; create another admin key first")
        revoke_key(session, key_id, actor=principal)


@router.patch("/keys/{key_id}", response_model=KeyOut)
def change_role(key_id: KeyId, body: KeyRoleChange, state: StateDep, principal: AdminDep) -> KeyOut:
    """Change an active key's role (an audit event); the last active admin keeps its role."""
    with write_session(state) as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            raise APIError(404, "not_found", f"no active key {key_id}")
        if row.role == "admin" and body.role != "admin" and count_active_admins(session) <= 1:
            raise APIError(409, "last_admin", "this is the last active admin key; create another admin key first")
        changed = set_role(session, key_id, body.role, actor=principal)
        assert changed is not None
        return _key_out(changed)


@router.get(
    "/feedback/export", response_class=StreamingResponse, responses={200: {"content": {"application/x-ndjson": {}}}}
)
def feedback_export(state: StateDep, _: AdminDep) -> StreamingResponse:
    """Reviewed documents as JSONL in the corpus format, ready for `surveilrisk train --extra`."""
    from serving.db import read_scope

    with read_scope(state.sessions) as session:
        lines = list(export_lines(session, state.classifier.taxonomy))
    return StreamingResponse(
        iter(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'},
    )
