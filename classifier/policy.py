"""Screening policy: product tier × destination group × end-user type → one action with reasons.

The rules live in an editable YAML file; loading validates it completely (known tiers,
groups, end users and ISO country codes; disjoint groups; every combination decided), so a
broken policy stops the service at start-up instead of producing a wrong decision later.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from classifier.taxonomy import TIER_IDS


class PolicyError(ValueError):
    """The policy file is invalid; the message names the rule or entry to fix."""


class Action(enum.IntEnum):
    """Screening actions ordered by severity."""

    PROCEED = 0
    PROCEED_WITH_DUE_DILIGENCE = 1
    ESCALATE = 2
    BLOCK = 3

    @property
    def id(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Action:
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            raise PolicyError(f"unknown action {value!r}; expected one of: {', '.join(a.id for a in cls)}") from None


END_USER_TYPES: tuple[str, ...] = (
    "public_security",
    "military",
    "intelligence",
    "government_civil",
    "research",
    "private_company",
    "individual",
    "unknown",
)
ACTION_IDS: tuple[str, ...] = tuple(a.id for a in Action)


def country_names() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code → English short name (from the pycountry package)."""
    import pycountry

    return {c.alpha_2: getattr(c, "common_name", None) or c.name for c in pycountry.countries}


@dataclass(frozen=True)
class Rule:
    index: int
    tiers: frozenset[str]
    groups: frozenset[str] | None  # None: any group
    end_users: frozenset[str] | None  # None: any end user
    action: Action
    reason: str

    def matches(self, tier: str, group: str, end_user: str) -> bool:
        return (
            tier in self.tiers
            and (self.groups is None or group in self.groups)
            and (self.end_users is None or end_user in self.end_users)
        )


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...]
    rule_index: int
    destination_group: str


@dataclass(frozen=True)
class Policy:
    name: str
    version: str  # sha256 of the file's bytes, first 16 hex digits
    groups: dict[str, frozenset[str]]
    default_group: str
    rules: tuple[Rule, ...]
    # When a person must check the reading, at least this action (never proceed).
    review_required_floor: Action = Action.ESCALATE
    review_required_reason: str = "The product reading needs human review before this transaction can go ahead."

    def group_of(self, country: str) -> str:
        code = country.strip().upper()
        for name, members in self.groups.items():
            if code in members:
                return name
        return self.default_group

    @property
    def group_names(self) -> tuple[str, ...]:
        return (*self.groups, self.default_group)

    def decide(self, tier: str, destination: str, end_user_type: str, review_required: bool = False) -> Decision:
        """The first matching rule's action, raised to `review_required_floor` when the reading is
        unreliable; raises PolicyError for unknown inputs."""
        if tier not in TIER_IDS:
            raise PolicyError(f"unknown tier {tier!r}")
        if end_user_type not in END_USER_TYPES:
            raise PolicyError(f"unknown end_user_type {end_user_type!r}; expected one of {', '.join(END_USER_TYPES)}")
        code = destination.strip().upper()
        names = country_names()
        if code not in names:
            raise PolicyError(f"unknown destination {destination!r}: use an ISO 3166-1 alpha-2 code such as DE or BR")
        group = self.group_of(code)
        for rule in self.rules:
            if rule.matches(tier, group, end_user_type):
                action, first = rule.action, (rule.reason,)
                if review_required and action < self.review_required_floor:
                    action = self.review_required_floor
                    first = (
                        f"{self.review_required_reason} (Without review the rule would say: {rule.action.id}. "
                        f"{rule.reason})",
                    )
                return Decision(
                    action=action,
                    reasons=(
                        *first,
                        f"Product tier: {tier}" + (" (needs human review)." if review_required else "."),
                        f"Destination {code} ({names[code]}) is in group '{group}'.",
                        f"End-user type: {end_user_type}.",
                    ),
                    rule_index=rule.index,
                    destination_group=group,
                )
        raise PolicyError(f"no rule decides tier={tier}, group={group}, end_user={end_user_type}")  # validated away

    def describe(self) -> dict[str, Any]:
        """JSON-ready view for `GET /v1/policy`."""
        return {
            "name": self.name,
            "version": self.version,
            "default_group": self.default_group,
            "destination_groups": {g: sorted(m) for g, m in self.groups.items()},
            "end_user_types": list(END_USER_TYPES),
            "actions": list(ACTION_IDS),
            "review_required_floor": self.review_required_floor.id,
            "rules": [
                {
                    "index": r.index,
                    "tiers": sorted(r.tiers, key=TIER_IDS.index),
                    "groups": sorted(r.groups) if r.groups is not None else "*",
                    "end_users": sorted(r.end_users) if r.end_users is not None else "*",
                    "action": r.action.id,
                    "reason": r.reason,
                }
                for r in self.rules
            ],
        }


def _as_set(raw: Any, where: str, allowed: tuple[str, ...], what: str) -> frozenset[str] | None:
    if raw is None or raw == "*" or raw == ["*"]:
        return None
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise PolicyError(f"{where}: {what} must be a non-empty list or '*'")
    values = frozenset(str(v) for v in raw)
    unknown = sorted(values - set(allowed))
    if unknown:
        raise PolicyError(f"{where}: unknown {what} {unknown}; allowed: {', '.join(allowed)}")
    return values


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(f"{source} must be a YAML mapping with destination_groups and rules")
    names = country_names()
    groups: dict[str, frozenset[str]] = {}
    owner: dict[str, str] = {}
    for gname, members in (raw.get("destination_groups") or {}).items():
        if not isinstance(members, list):
            raise PolicyError(f"{source}: destination group {gname!r} must be a list of country codes")
        if any(isinstance(m, bool) for m in members):
            raise PolicyError(f"{source}: group {gname!r} has a yes/no value; quote country codes such as 'NO'")
        codes = frozenset(str(m).strip().upper() for m in members)
        bad = sorted(c for c in codes if c not in names)
        if bad:
            raise PolicyError(f"{source}: group {gname!r} has codes that are not ISO 3166-1 alpha-2: {bad}")
        for c in codes:
            if c in owner:
                raise PolicyError(f"{source}: country {c} is in both {owner[c]!r} and {gname!r}; keep it in one")
            owner[c] = str(gname)
        groups[str(gname)] = codes
    default_group = str(raw.get("default_group") or "rest_of_world")
    if default_group in groups:
        raise PolicyError(f"{source}: default_group {default_group!r} must not also be a listed group")
    all_groups = (*groups, default_group)
    rules = []
    for i, r in enumerate(raw.get("rules") or []):
        where = f"{source}: rule {i + 1}"
        if not isinstance(r, dict):
            raise PolicyError(f"{where} must be a mapping")
        unknown_keys = set(r) - {"tiers", "groups", "end_users", "action", "reason"}
        if unknown_keys:
            raise PolicyError(f"{where}: unknown keys {sorted(unknown_keys)}")
        tiers = _as_set(r.get("tiers"), where, TIER_IDS, "tiers")
        reason = str(r.get("reason") or "").strip()
        if not reason:
            raise PolicyError(f"{where}: every rule needs a reason")
        rules.append(
            Rule(
                index=i + 1,
                tiers=tiers if tiers is not None else frozenset(TIER_IDS),
                groups=_as_set(r.get("groups"), where, all_groups, "groups"),
                end_users=_as_set(r.get("end_users"), where, END_USER_TYPES, "end_users"),
                action=Action.parse(str(r.get("action", ""))),
                reason=reason,
            )
        )
    if not rules:
        raise PolicyError(f"{source}: no rules")
    floor = Action.parse(str(raw.get("review_required_floor", Action.ESCALATE.id)))
    if floor == Action.PROCEED:
        raise PolicyError(f"{source}: review_required_floor must be above proceed (an unread product never proceeds)")
    version = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    policy = Policy(
        str(raw.get("name") or "policy"),
        version,
        groups,
        default_group,
        tuple(rules),
        review_required_floor=floor,
        review_required_reason=str(raw.get("review_required_reason") or Policy.review_required_reason).strip(),
    )
    _check_total(policy, source)
    return policy


def _check_total(policy: Policy, source: str) -> None:
    """Every tier × group × end user must reach a rule; report the first gap."""
    for tier in TIER_IDS:
        for group in policy.group_names:
            for eu in END_USER_TYPES:
                if not any(r.matches(tier, group, eu) for r in policy.rules):
                    raise PolicyError(
                        f"{source}: no rule decides tier={tier}, group={group}, end_user={eu}; add a rule"
                    )


def load_policy(path: Path | str) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror or exc}") from exc
    return parse_policy(text, str(path))
