"""The label set: capability and risk-factor ids, ordinal tiers, and the tier rules.

Everything else in the project asks this module for ids instead of spelling them out, so
a label can only exist if the taxonomy file declares it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml


class TaxonomyError(ValueError):
    """The taxonomy file is malformed or a label id is unknown."""


class Tier(enum.IntEnum):
    """Ordinal risk tier; comparison operators follow severity."""

    MINIMAL = 0
    LIMITED = 1
    HIGH = 2
    CRITICAL = 3

    @property
    def id(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | Tier) -> Tier:
        if isinstance(value, Tier):
            return value
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            allowed = ", ".join(t.id for t in cls)
            raise TaxonomyError(f"unknown tier {value!r}; expected one of: {allowed}") from None


TIER_IDS: tuple[str, ...] = tuple(t.id for t in Tier)


@dataclass(frozen=True)
class Label:
    """One capability or risk factor with its documentation."""

    id: str
    kind: str  # "capability" or "risk_factor"
    name: str
    definition: str
    cues: tuple[str, ...] = ()
    hard_negatives: tuple[str, ...] = ()
    legal_anchor: str = ""
    min_tier: Tier = Tier.MINIMAL
    # Set for capabilities whose tier depends on use: the tier when they identify people (1:N
    # search, watchlists, databases) rather than verify a cooperating person 1:1 (`min_tier`).
    identify_tier: Tier | None = None


@dataclass(frozen=True)
class CriticalRule:
    """A combination of labels that, present together, implies the critical tier."""

    labels: frozenset[str]
    reason: str


@dataclass(frozen=True)
class TierExplanation:
    """The minimum tier a label set implies and why."""

    tier: Tier
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """Typed, validated view of `data/taxonomy.yaml`."""

    version: int
    capabilities: tuple[Label, ...]
    risk_factors: tuple[Label, ...]
    tier_meanings: dict[str, str]
    critical_rules: tuple[CriticalRule, ...]
    _by_id: dict[str, Label] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({lab.id: lab for lab in (*self.capabilities, *self.risk_factors)})

    @property
    def capability_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.capabilities)

    @property
    def risk_factor_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.risk_factors)

    @property
    def label_ids(self) -> tuple[str, ...]:
        """Capabilities first, then risk factors: the model's output order."""
        return self.capability_ids + self.risk_factor_ids

    @property
    def use_dependent_ids(self) -> frozenset[str]:
        """Capabilities whose tier the text must settle (identify or verify); no label alone can."""
        return frozenset(c.id for c in self.capabilities if c.identify_tier is not None)

    def label(self, label_id: str) -> Label:
        try:
            return self._by_id[label_id]
        except KeyError:
            raise TaxonomyError(f"unknown label id {label_id!r}") from None

    def check_ids(self, ids: Iterable[str], kind: str) -> list[str]:
        """Return ids unchanged, or raise naming the ones that are not of `kind`."""
        ids = list(ids)
        known = set(self.capability_ids if kind == "capability" else self.risk_factor_ids)
        bad = [i for i in ids if i not in known]
        if bad:
            raise TaxonomyError(f"unknown {kind} id(s): {', '.join(map(repr, bad))}")
        return ids

    def minimum_tier(self, labels: Iterable[str]) -> TierExplanation:
        """Lowest tier the labelling rules allow for a product with these labels.

        Risk factors never raise the tier on their own; only the critical combinations use
        them. Voice and other biometrics stay at `limited` because the labels cannot show
        whether they identify (high) or verify a cooperating person (limited).
        """
        present = set(labels)
        for lab in present:
            self.label(lab)  # unknown ids fail loudly
        critical = [r.reason for r in self.critical_rules if r.labels <= present]
        if critical:
            return TierExplanation(Tier.CRITICAL, tuple(critical))
        best = Tier.MINIMAL
        reasons: list[str] = []
        for cap in self.capabilities:
            if cap.id in present and cap.min_tier >= best and cap.min_tier > Tier.MINIMAL:
                if cap.min_tier > best:
                    reasons = []
                best = cap.min_tier
                reasons.append(f"{cap.id} implies at least {cap.min_tier.id}")
        return TierExplanation(best, tuple(reasons))


def _load_label(raw: dict[str, Any], kind: str) -> Label:
    missing = [k for k in ("id", "name", "definition") if not raw.get(k)]
    if missing:
        raise TaxonomyError(f"{kind} entry {raw.get('id', '?')!r} lacks {', '.join(missing)}")
    return Label(
        id=str(raw["id"]),
        kind=kind,
        name=str(raw["name"]),
        definition=str(raw["definition"]),
        cues=tuple(str(c) for c in raw.get("cues", []) or []),
        hard_negatives=tuple(str(c) for c in raw.get("hard_negatives", []) or []),
        legal_anchor=str(raw.get("legal_anchor", "")),
        min_tier=Tier.parse(str(raw.get("min_tier", "minimal"))),
        identify_tier=Tier.parse(str(raw["identify_tier"])) if raw.get("identify_tier") else None,
    )


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (the shipped `taxonomy.yaml` by default)."""
    from classifier.resources import data_file

    path = Path(path) if path is not None else data_file("taxonomy.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise TaxonomyError(f"taxonomy {path} must be a mapping")
    caps = tuple(_load_label(c, "capability") for c in raw.get("capabilities", []))
    risks = tuple(_load_label(r, "risk_factor") for r in raw.get("risk_factors", []))
    ids = [lab.id for lab in (*caps, *risks)]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise TaxonomyError(f"duplicate label ids in {path}: {dupes}")
    tiers = {str(t["id"]): str(t.get("meaning", "")) for t in raw.get("tiers", [])}
    if tuple(tiers) != TIER_IDS:
        raise TaxonomyError(f"tiers in {path} must be {TIER_IDS} in order, got {tuple(tiers)}")
    rules = []
    for r in raw.get("critical_rules", []):
        members = frozenset(str(x) for x in r["labels"])
        unknown = members - set(ids)
        if unknown:
            raise TaxonomyError(f"critical rule uses unknown ids {sorted(unknown)}")
        rules.append(CriticalRule(labels=members, reason=str(r["reason"])))
    if not caps or not risks:
        raise TaxonomyError(f"taxonomy {path} needs capabilities and risk_factors")
    return Taxonomy(
        version=int(raw.get("version", 1)),
        capabilities=caps,
        risk_factors=risks,
        tier_meanings=tiers,
        critical_rules=tuple(rules),
    )


@lru_cache(maxsize=1)
def default_taxonomy() -> Taxonomy:
    """The project's taxonomy, read once per process on first use."""
    return load_taxonomy()
