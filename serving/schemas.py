"""API request and response bodies (separate from the database tables)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from classifier.policy import ACTION_IDS, END_USER_TYPES
from classifier.results import ClassificationResult
from classifier.review import ReviewReason
from classifier.taxonomy import TIER_IDS

EndUserType = Literal[
    "public_security",
    "military",
    "intelligence",
    "government_civil",
    "research",
    "private_company",
    "individual",
    "unknown",
]
ActionId = Literal["proceed", "proceed_with_due_diligence", "escalate", "block"]
PartyOutcome = Literal["done", "hit", "not_done"]
ReviewStatus = Literal["open", "in_review", "decided"]
DecisionSource = Literal["policy", "review", "rescreen"]
TierId = Literal["minimal", "limited", "high", "critical"]
assert tuple(EndUserType.__args__) == END_USER_TYPES  # type: ignore[attr-defined]
assert tuple(ActionId.__args__) == ACTION_IDS  # type: ignore[attr-defined]
assert tuple(TierId.__args__) == TIER_IDS  # type: ignore[attr-defined]

# Input limits of free-text fields (the byte limit of uploads is a setting, checked before parsing).
MAX_TEXT_CHARS = 20 * 1024 * 1024
MAX_QUOTE_CHARS = 1000


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code.", examples=["file_too_large"])
    message: str = Field(description="What went wrong and what to fix.")
    details: list[dict[str, object]] | None = None


class ClassifyText(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"title": "VX-9 datasheet", "text": "The VX-9 compares every face it sees with a watch list."}]
        },
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="Document text.")
    title: str | None = Field(default=None, max_length=255, description="Shown as `source` in the result.")


class BatchText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ClassifyText] = Field(min_length=1, max_length=1000)


class BatchItemResult(BaseModel):
    index: int
    source: str
    ok: bool
    result: ClassificationResult | None = None
    error: ErrorBody | None = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]


class ScreeningCreate(BaseModel):
    """JSON form of a screening request; multipart requests carry the same fields as form fields."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "The VX-9 compares every face it sees with a police watch list in real time.",
                    "destination": "BR",
                    "end_user_type": "public_security",
                    "end_user_name": "State police",
                    "reference": "PO-2026-118",
                }
            ]
        },
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    title: str | None = Field(default=None, max_length=255)
    destination: str = Field(max_length=8, description="ISO 3166-1 alpha-2 country code of the destination.")
    end_user_type: EndUserType
    end_user_name: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200, description="Your order or case reference.")
    control_list_entry: str | None = Field(
        default=None, max_length=200, description="Control-list entry checked (EU dual-use Annex I or ECCN), free text."
    )
    licence_reference: str | None = Field(default=None, max_length=200, description="Export licence reference.")
    party_screening: PartyOutcome | None = Field(
        default=None, description="Outcome of screening the parties against sanctions lists: done, hit or not_done."
    )
    party_screening_by: str | None = Field(default=None, max_length=120, description="Who screened the parties.")

    @field_validator("destination")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.strip().upper()

    @field_validator("end_user_name", "reference", "control_list_entry", "licence_reference", "party_screening_by")
    @classmethod
    def _blank_is_none(cls, v: str | None) -> str | None:
        return v.strip() or None if v is not None else None


class Actor(BaseModel):
    key_id: int
    name: str


class DestinationOut(BaseModel):
    code: str
    name: str
    group: str


class DocumentOut(BaseModel):
    filename: str | None
    media_type: str
    size_bytes: int
    sha256: str
    text_chars: int
    text: str | None = Field(default=None, description="Extracted text (single-screening view only).")


class DecisionOut(BaseModel):
    """The decision the model reading and the policy gave when the screening was stored; never changes."""

    action: ActionId
    tier: TierId
    reasons: list[str]
    rule: int
    policy_version: str
    review_required: bool = Field(default=False, description="The reading was flagged for human review.")
    superseded: bool = Field(default=False, description="A later decision record (review or re-screening) replaced it.")


class DecisionInForceOut(BaseModel):
    """The decision that counts now: the latest review's or re-screening's, else the policy's."""

    source: DecisionSource = Field(description="policy (no later record), review (a person) or rescreen.")
    action: ActionId
    tier: TierId
    capabilities: list[str]
    risk_factors: list[str]
    reasons: list[str]
    decided_at: datetime
    decided_by: Actor | None = Field(default=None, description="Who recorded it; null while the policy's stands.")
    record_id: str | None = Field(default=None, description="The decision record in force (null: the original).")
    comment: str | None = None
    action_reason: str | None = None
    review_required: bool = Field(description="Still needs a person: the reading is unreliable and nobody reviewed it.")
    review_reasons: list[ReviewReason] = Field(default_factory=list)


class ChangeOut(BaseModel):
    labels_added: list[str]
    labels_removed: list[str]
    tier: dict[str, str] | None = None
    action: dict[str, str] | None = None


class PartyScreeningOut(BaseModel):
    outcome: PartyOutcome
    by: str | None = None


class ClaimOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    reviewer_key_id: int
    reviewer_name: str
    claimed_at: datetime
    expires_at: datetime


class EvidenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(max_length=64)
    start: int | None = Field(default=None, ge=0, le=2**31 - 1)
    end: int | None = Field(default=None, gt=0, le=2**31 - 1)
    quote: str | None = Field(
        default=None, min_length=3, max_length=MAX_QUOTE_CHARS, description="Alternative to start/end: text to find."
    )


class ReviewCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "verdict": "correct",
                    "capabilities": ["face_identification"],
                    "risk_factors": ["real_time"],
                    "tier": "high",
                    "action": "escalate",
                    "comment": "Watch-list matching is on page 3.",
                    "evidence": [{"label": "real_time", "quote": "alerts within two seconds"}],
                }
            ]
        },
    )
    verdict: Literal["confirm", "correct"]
    capabilities: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=100, description="Corrected set (required when correcting)."
    )
    risk_factors: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=100)
    tier: TierId | None = None
    action: ActionId | None = None
    evidence: list[EvidenceIn] = Field(
        default_factory=list, max_length=100, description="Spans for labels the model did not cite."
    )
    comment: str = Field(min_length=1, max_length=5000)
    action_reason: str | None = Field(
        default=None, max_length=5000, description="Required when the action differs from the decision in force."
    )
    based_on: str | None = Field(
        default=None,
        description="The decision in force you reviewed (its record_id, or the screening id for the original); "
        "a later change answers 409 instead of being overwritten.",
    )


class ReviewOut(BaseModel):
    """One decision record: a person's review, or a re-screening applied by `surveilrisk rescreen --apply`."""

    id: str
    kind: Literal["review", "rescreen"] = "review"
    created_at: datetime
    reviewer: Actor
    verdict: str
    capabilities: list[str]
    risk_factors: list[str]
    tier: str
    action: str
    evidence: list[dict[str, object]]
    comment: str
    action_reason: str | None = None
    supersedes: str | None = Field(default=None, description="The record (or screening id) it replaced.")
    changes: ChangeOut | None = Field(default=None, description="What it changed relative to the decision it replaced.")
    message: str | None = Field(default=None, description="What was recorded, in words (on creation).")


class ScreeningOut(BaseModel):
    id: str
    created_at: datetime
    created_by: Actor
    reference: str | None
    destination: DestinationOut
    end_user_type: str
    end_user_name: str | None
    control_list_entry: str | None = None
    licence_reference: str | None = None
    party_screening: PartyScreeningOut | None = None
    document: DocumentOut
    classification: ClassificationResult
    decision_in_force: DecisionInForceOut
    model_decision: DecisionOut
    decision: DecisionOut = Field(deprecated=True, description="Same as model_decision; kept for older clients.")
    model_version: str
    review_status: ReviewStatus
    claim: ClaimOut | None = None
    reviews: list[ReviewOut] = Field(default_factory=list)
    permalink: str


class ScreeningSummary(BaseModel):
    """One history row; `tier` and `action` are the decision in force."""

    id: str
    created_at: datetime
    created_by: Actor
    reference: str | None
    destination: str
    end_user_type: str
    end_user_name: str | None = None
    filename: str | None
    tier: str
    action: str
    decision_source: DecisionSource
    decided_by: str | None = None
    model_tier: str
    model_action: str
    reviewed: bool = Field(description="A person has reviewed it.")
    review_status: ReviewStatus
    review_required: bool = Field(description="Flagged unreliable and not reviewed yet.")


class ScreeningPage(BaseModel):
    items: list[ScreeningSummary]
    total: int
    page: int
    page_size: int


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["screener", "reviewer", "admin"]
    name: str = Field(min_length=1, max_length=120)


class KeyRoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["screener", "reviewer", "admin"]


class KeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from an ApiKey row

    id: int
    prefix: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    key: str = Field(description="The secret. Shown once; store it now.")


class WhoAmI(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built straight from the Principal

    key_id: int
    name: str
    role: str


class WorklistItem(BaseModel):
    screening: ScreeningSummary
    priority: float = Field(description="severity × uncertainty; higher is reviewed first.")
    severity: int = Field(description="1-7: the action and tier at stake if the reading is wrong.")
    uncertainty: float = Field(description="0-1: how unsure the reading is.")
    why: list[str] = Field(description="What drove the priority, in words.")
    claim: ClaimOut | None = None


class WorklistPage(BaseModel):
    items: list[WorklistItem]
    counts: dict[str, int] = Field(description="Screenings you may review, by status: open, in_review, decided.")
    total: int
    page: int
    page_size: int


MAX_POLICY_CHARS = 256 * 1024


class RescreenRequest(BaseModel):
    """What to replay: the model and policy to try, from when, and whether to record the flips."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["loaded", "keyword"] = Field(
        default="loaded", description="`loaded`: the model this service runs; `keyword`: the keyword baseline."
    )
    policy_yaml: str | None = Field(
        default=None,
        max_length=MAX_POLICY_CHARS,
        description="A policy to try, as YAML text (data/policy.yaml's format); default: the active policy.",
    )
    since: date | None = Field(default=None, description="Only screenings created on or after this day (UTC).")
    apply: bool = Field(
        default=False, description="Append a `rescreen` decision record for every applicable flip (default: dry run)."
    )


class RescreenFlip(BaseModel):
    screening_id: str
    created_at: str
    reference: str | None
    document: str | None
    destination: str
    end_user_type: str
    action_before: str
    action_after: str
    tier_before: str
    tier_after: str
    labels_added: list[str]
    labels_removed: list[str]
    decided_by: str = Field(description="`policy`, or whoever's decision is in force now.")
    applies: bool = Field(description="False when a person's review is in force: reported, never overridden.")
    review_required: bool
    reasons: list[str]
    supersedes: str = Field(description="The record (or screening) whose decision this flip would replace.")
    applied_record: str | None = Field(description="The decision record written by `apply`.")


class RescreenReport(BaseModel):
    model_version: str
    policy_version: str
    scanned: int = Field(description="Stored screenings replayed.")
    applied: int = Field(description="Decision records appended (0 on a dry run).")
    flips: list[RescreenFlip]
