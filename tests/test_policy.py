import itertools
from pathlib import Path

import pytest

from classifier.policy import END_USER_TYPES, Action, PolicyError, load_policy, parse_policy
from classifier.taxonomy import TIER_IDS

POLICY_PATH = Path(__file__).resolve().parent.parent / "data" / "policy.yaml"


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY_PATH)


def test_every_combination_gets_exactly_one_decision(policy):
    seen = 0
    for tier, group, eu in itertools.product(TIER_IDS, policy.group_names, END_USER_TYPES):
        matching = [r for r in policy.rules if r.matches(tier, group, eu)]
        assert matching, (tier, group, eu)
        country = next(iter(policy.groups[group])) if group in policy.groups else "BR"
        d = policy.decide(tier, country, eu)
        assert d.rule_index == matching[0].index  # first match decides, deterministically
        assert d.destination_group == group
        assert d.reasons[0] == matching[0].reason
        seen += 1
    assert seen == 4 * len(policy.group_names) * 8


def test_severity_never_drops_as_the_tier_rises(policy):
    for group, eu in itertools.product(policy.group_names, END_USER_TYPES):
        country = next(iter(policy.groups[group])) if group in policy.groups else "BR"
        actions = [policy.decide(t, country, eu).action for t in TIER_IDS]
        assert actions == sorted(actions), (group, eu, actions)


@pytest.mark.parametrize(
    ("tier", "country", "end_user", "action"),
    [
        ("critical", "DE", "research", Action.BLOCK),
        ("high", "CN", "private_company", Action.BLOCK),
        ("high", "SA", "public_security", Action.BLOCK),
        ("high", "BR", "public_security", Action.ESCALATE),
        ("high", "BR", "private_company", Action.PROCEED_WITH_DUE_DILIGENCE),
        ("high", "fr", "unknown", Action.ESCALATE),
        ("limited", "RU", "military", Action.ESCALATE),
        ("limited", "BR", "private_company", Action.PROCEED),
        ("minimal", "BY", "private_company", Action.PROCEED_WITH_DUE_DILIGENCE),
        ("minimal", "JP", "individual", Action.PROCEED),
    ],
)
def test_shipped_policy_examples(policy, tier, country, end_user, action):
    d = policy.decide(tier, country, end_user)
    assert d.action == action
    assert any(country.upper() in r for r in d.reasons)


def test_version_is_the_file_hash(policy):
    text = POLICY_PATH.read_text()
    assert parse_policy(text).version == policy.version
    assert parse_policy(text + "\n# edited\n").version != policy.version


def test_bad_inputs_to_decide(policy):
    with pytest.raises(PolicyError, match="ISO 3166-1"):
        policy.decide("high", "XX", "military")
    with pytest.raises(PolicyError, match="end_user_type"):
        policy.decide("high", "DE", "hacker")


BASE = """
default_group: rest
destination_groups:
  a: [DE, FR]
rules:
  - tiers: [critical, high]
    action: block
    reason: r1
  - action: proceed
    reason: r2
"""


def test_minimal_valid_policy():
    p = parse_policy(BASE)
    assert p.decide("minimal", "DE", "research").action == Action.PROCEED
    assert p.decide("high", "BR", "research").action == Action.BLOCK


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace("[DE, FR]", "[DE, XQ]"), "not ISO 3166-1"),
        (lambda s: s.replace("action: proceed", "action: allow"), "unknown action"),
        (lambda s: s.replace("reason: r2", "reason: ''"), "needs a reason"),
        (lambda s: s.replace("  - action: proceed\n    reason: r2\n", ""), "no rule decides tier=minimal"),
        (lambda s: s.replace("tiers: [critical, high]", "tiers: [severe]"), "unknown tiers"),
        (lambda s: s + "  - groups: [b]\n    action: proceed\n    reason: x\n", "unknown groups"),
        (lambda s: s.replace("a: [DE, FR]", "a: [DE, FR]\n  b: [DE]"), "in both"),
        (lambda s: s.replace("rules:", "rules: [\n"), "not valid YAML"),
    ],
)
def test_invalid_policies_are_refused_with_a_clear_message(edit, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(edit(BASE))
