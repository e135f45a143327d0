"""Who hears about a deadline: the owner's reminders and the escalation ladder. Pure.

Reminders go to the case's owner: the assignee, else the assigned group's on-duty members,
else intake's (an unassigned case is intake's). A missed deadline climbs a ladder of at most
three rungs (docs/process.md#escalation): the owning group's first supervisor, its second (or, when
it has none, the next rung), then the leadership group.
"""

from __future__ import annotations

from config.policy_classify import RoutingPolicy
from config.policy_staff import Group, StaffMember, members_of

# The routing policy's defaults; callers pass the policy's values.
INTAKE_GROUP = RoutingPolicy().intake_group
LEADERSHIP_GROUP = RoutingPolicy().leadership_group


def _by_id(staff: list[StaffMember], staff_id: str | None) -> StaffMember | None:
    return next((s for s in staff if s.id == staff_id), None)


def owning_group(
    staff: list[StaffMember], group: str | None, assignee: str | None, intake: str = INTAKE_GROUP
) -> str:
    """The group answerable for a case: its assigned group, the assignee's first, or intake."""
    if group:
        return group
    member = _by_id(staff, assignee)
    return member.groups[0] if member and member.groups else intake


def reminder_recipients(
    staff: list[StaffMember], group: str | None, assignee: str | None, intake: str = INTAKE_GROUP
) -> list[StaffMember]:
    """The owner: the assignee when on duty, else the group's on-duty members, else intake's."""
    member = _by_id(staff, assignee)
    if member is not None and member.on_duty:
        return [member]
    for group_id in (owning_group(staff, group, assignee, intake), intake):
        on_duty = [m for m in members_of(staff, group_id) if m.on_duty]
        if on_duty:
            return on_duty
    return []


def escalation_ladder(
    staff: list[StaffMember],
    groups: list[Group],
    group: str | None,
    assignee: str | None,
    intake: str = INTAKE_GROUP,
    leaders: str = LEADERSHIP_GROUP,
) -> list[list[StaffMember]]:
    """The rungs, tier 1 first; rungs with nobody on them are left out."""
    group_id = owning_group(staff, group, assignee, intake)
    found = next((g for g in groups if g.id == group_id), None)
    if found is None or not found.supervisors:
        # A group without supervisors escalates as intake does.
        found = next((g for g in groups if g.id == intake), None)
    supervisors = [_by_id(staff, s) for s in (found.supervisors if found else [])[:2]]
    rungs = [[s] for s in supervisors if s is not None]
    rungs.append(leadership(staff, leaders))
    return [rung for rung in rungs if rung]


def leadership(staff: list[StaffMember], leaders: str = LEADERSHIP_GROUP) -> list[StaffMember]:
    """Everyone in the leadership group, on duty or not: they are told of major cases."""
    return members_of(staff, leaders)
