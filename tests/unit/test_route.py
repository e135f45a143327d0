"""Routing: which group, which person, whether leadership hears, and who sees the complainant."""

from __future__ import annotations

import re

import pytest

from config.policy_classify import Category, ClassifyPolicy, RoutingPolicy, load_classify_policy
from config.policy_staff import StaffMember
from config.settings import PROJECT_ROOT
from workers.triage.route import complainant_label, pseudonymise, route

POLICY = ClassifyPolicy(
    categories=[
        Category(code="privacy", name_zh="用户信息泄露", name_en="Privacy", group="legal"),
        Category(code="other", name_zh="其他", name_en="Other", group="intake"),
    ]
)


def member(id: str, groups: list[str], on_duty: bool = True) -> StaffMember:
    return StaffMember(id=id, name=id, email=f"{id}@example.org", groups=groups, on_duty=on_duty)


STAFF = [
    member("wang", ["legal"]),
    member("chen", ["legal"]),
    member("sun", ["legal"], on_duty=False),
    member("li", ["intake"]),
    member("zhao", ["intake", "leadership"]),
]


def test_the_category_picks_the_group_and_the_least_loaded_member() -> None:
    decision = route("privacy", "general", POLICY, STAFF, {"wang": 4, "chen": 2})
    assert (decision.group, decision.assignee) == ("legal", "chen")
    assert decision.reasons == ["group legal: handles privacy", "assignee chen: 2 open cases"]


def test_members_off_duty_are_passed_over_even_when_idle() -> None:
    decision = route("privacy", "general", POLICY, STAFF, {"wang": 9, "chen": 7, "sun": 0})
    assert decision.assignee == "chen"


def test_equal_loads_go_to_the_lowest_staff_id() -> None:
    # Missing from open_counts means no open cases.
    assert route("privacy", "general", POLICY, STAFF, {}).assignee == "chen"
    assert route("privacy", "general", POLICY, STAFF, {"chen": 1, "wang": 1}).assignee == "chen"


def test_nobody_on_duty_leaves_the_case_unassigned_in_its_group() -> None:
    staff = [member("wang", ["legal"], on_duty=False), member("li", ["intake"])]
    decision = route("privacy", "general", POLICY, staff, {})
    assert (decision.group, decision.assignee) == ("legal", None)
    assert "unassigned: nobody in legal is on duty" in decision.reasons


def test_a_group_without_staff_falls_back_to_intake() -> None:
    staff = [member("li", ["intake"]), member("zhao", ["intake"])]
    decision = route("privacy", "general", POLICY, staff, {"li": 3, "zhao": 1})
    assert (decision.group, decision.assignee) == ("intake", "zhao")
    assert decision.reasons[0] == "group intake: legal has no staff"


def test_an_unknown_category_goes_to_intake() -> None:
    assert route("no_such_category", "general", POLICY, STAFF, {}).group == "intake"


@pytest.mark.parametrize(
    ("severity", "notify"), [("general", False), ("important", False), ("major", True)]
)
def test_only_major_cases_notify_leadership(severity: str, notify: bool) -> None:
    decision = route("privacy", severity, POLICY, STAFF, {})
    assert decision.notify_leadership is notify
    assert ("notify leadership: severity major" in decision.reasons) is notify


def test_the_policy_file_routes_every_category() -> None:
    policy = load_classify_policy(PROJECT_ROOT / "config" / "policy.toml")
    staff = [member(f"s{i}", [c.group]) for i, c in enumerate(policy.categories)]
    for category in policy.categories:
        assert route(category.code, "general", policy, staff, {}).group == category.group


def test_a_pseudonym_is_stable_within_a_case_and_differs_across_cases() -> None:
    first = pseudonymise("张三 <zhang.san@example.com>", "TS-2026-000123")
    assert re.fullmatch("投诉人[A-Z]{2}", first)
    assert pseudonymise("ZHANG.SAN@example.com", "TS-2026-000123") == first
    others = {pseudonymise("zhang.san@example.com", f"TS-2026-{n:06d}") for n in range(200, 220)}
    assert len(others) > 15  # unrelated across cases: they cannot be linked by it


def test_groups_outside_intake_see_a_pseudonym_unless_the_policy_allows() -> None:
    identity = "张三 <zhang.san@example.com>"
    assert complainant_label(identity, "TS-2026-000123", "intake", POLICY) == identity
    hidden = complainant_label(identity, "TS-2026-000123", "legal", POLICY)
    assert hidden == pseudonymise(identity, "TS-2026-000123")
    open_policy = POLICY.model_copy(
        update={"routing": RoutingPolicy(identity_visible_outside_intake=True)}
    )
    assert complainant_label(identity, "TS-2026-000123", "legal", open_policy) == identity
