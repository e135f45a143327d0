"""Staff and groups of the policy file: `[[staff]]` and `[[groups]]` tables (a public contract)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StaffMember(BaseModel):
    id: str
    name: str
    email: str
    groups: list[str] = Field(default_factory=list)
    on_duty: bool = True


class Group(BaseModel):
    id: str
    name: str
    # Escalation goes to the group's supervisors tier by tier (docs/process.md#escalation).
    supervisors: list[str] = Field(default_factory=list)  # staff ids, tier 1 first


def staff_by_email(staff: list[StaffMember], address: str) -> StaffMember | None:
    address = address.strip().lower()
    return next((s for s in staff if s.email.lower() == address), None)


def members_of(staff: list[StaffMember], group: str) -> list[StaffMember]:
    return [s for s in staff if group in s.groups]
