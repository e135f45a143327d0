"""Decide who owns a classified case: its group, the assignee, and whether leadership is told.

Pure: category and severity (from `workers.triage.classify`), the policy, the staff list and each
member's count of open cases in; `RoutingDecision` out, with reasons staff can read. Also the
per-case pseudonym that groups other than intake see instead of the complainant (docs/process.md:
the complainant's identity goes no further than the people who need it).
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from email.utils import parseaddr

from config.policy import Policy
from config.policy_classify import SEVERITIES, Severity, severity_rank
from config.policy_staff import StaffMember, members_of


@dataclass(frozen=True)
class RoutingDecision:
    group: str
    assignee: str | None  # a staff id; None when nobody in the group is on duty
    notify_leadership: bool
    reasons: list[str]


def as_severity(level: str) -> Severity:
    """A severity read back as text (a case's column) as one of the policy's levels; ValueError
    for any other word, as ranking it would raise."""
    if level not in SEVERITIES:
        raise ValueError(f"not a severity: {level!r}")
    return level


def route(
    category: str,
    severity: str,
    policy: Policy,
    staff: list[StaffMember],
    open_counts: dict[str, int],
) -> RoutingDecision:
    routing = policy.routing
    group = next((c.group for c in policy.categories if c.code == category), routing.intake_group)
    reasons = [f"group {group}: handles {category}"]
    members = members_of(staff, group)
    if not members:
        reasons = [f"group {routing.intake_group}: {group} has no staff"]
        group = routing.intake_group
        members = members_of(staff, group)
    assignee = least_loaded(members, open_counts)
    if assignee is None:
        reasons.append(f"unassigned: nobody in {group} is on duty")
    else:
        reasons.append(f"assignee {assignee.id}: {open_counts.get(assignee.id, 0)} open cases")
    notify = severity_rank(as_severity(severity)) >= severity_rank(routing.notify_leadership_at)
    if notify:
        reasons.append(f"notify {routing.leadership_group}: severity {severity}")
    return RoutingDecision(group, assignee.id if assignee else None, notify, reasons)


def least_loaded(members: list[StaffMember], open_counts: dict[str, int]) -> StaffMember | None:
    """The on-duty member with the fewest open cases; ties go to the lowest id."""
    on_duty = [m for m in members if m.on_duty]
    return min(on_duty, key=lambda m: (open_counts.get(m.id, 0), m.id), default=None)


def pseudonymise(name_or_email: str, case_number: str, prefix: str = "投诉人") -> str:
    """A stable stand-in for one person within one case, such as 投诉人KQ.

    Two letters (676 values) keep the people of one case apart; the same person in another case
    gets an unrelated pseudonym, so cases cannot be linked by it.
    """
    name, address = parseaddr(name_or_email)
    who = (address or name or name_or_email).strip().lower()
    digest = hashlib.sha256(f"{case_number}\0{who}".encode()).digest()
    return prefix + "".join(string.ascii_uppercase[b % 26] for b in digest[:2])
