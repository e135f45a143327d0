"""The policy file: what an operator may change without touching code (config/policy.toml).

Loaded once into a validated `Policy`; every section has defaults equal to the regulations'
numbers (docs/process.md), so a missing section is never an error.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, Field

from config.policy_auth import StaffAuthPolicy
from config.policy_calendar import CalendarPolicy, SlaPolicy
from config.policy_classify import Category, ClassifierPolicy, RoutingPolicy, SeverityPolicy
from config.policy_staff import Group, StaffMember

# Characters of a mail's text that the text heuristics read (classification and the reading of
# a complainant's reply): the first 20,000 (about 60 KB of Chinese in UTF-8, five times the
# longest labelled complaint). The rest is kept, stored and shown to staff; it only never
# decides anything. A code constant, like the thresholds in workers.triage.classify: every
# heuristic is linear and this bound makes one mail's cost a constant.
TEXT_READ_CHARS = 20_000


class Limits(BaseModel):
    # Automatic mails to one address per rolling hour: two auto-responders cannot loop.
    max_auto_replies_per_sender_per_hour: int = 5
    # Automatic mails to one address under one subject (case tags and reply prefixes aside)
    # per rolling day: auto-responders that answer our automatic mail in kind stop at this.
    max_auto_replies_per_sender_per_subject_per_day: int = 1
    # A follow-up whose first mail is stored but not yet ingested waits for it (going again
    # alone, 2 s to a minute apart) for at most this long in all, then is filed as is.
    follow_up_wait_seconds: int = 600
    max_message_bytes: int = 50 * 1024 * 1024
    # Deliveries of one mail to the ingest stage before it is quarantined (a killed worker
    # is not a Dramatiq retry, so we count ourselves).
    max_attempts: int = 3
    max_received_hops: int = 50
    # Attachments filed per mail; the rest stay in the raw mail. Real evidence is a few dozen
    # files; 10,000 one-line parts took 30 s to write one by one (and are a way to fill a disk).
    max_attachments: int = 500
    # The desk as a relay (a flood of complaints with forged From addresses would make the
    # official address mail every victim): acknowledgements per rolling hour to one domain and
    # to all; beyond them the case stands and is listed for staff, unacknowledged.
    max_acknowledgements_per_domain_per_hour: int = Field(1000, ge=0)
    max_acknowledgements_per_hour: int = Field(3000, ge=0)
    # Leadership notices per member per rolling hour; beyond it one digest an hour.
    max_leadership_notices_per_hour: int = Field(5, ge=0)
    # Bytes the compressed attachments of one mail may inflate to, all parts together, while we
    # look for bombs (workers.mail.attachment_check); parts past it are flagged uninspected.
    max_inflate_bytes_per_mail: int = 100 * 1024 * 1024
    # Times the sweeper enqueues one unfinished row again (waiting twice as long each time,
    # from the sweep grace) before it gives up: the mail is quarantined, the reply marked
    # failed, the case left unrouted with a routing_given_up event. 10 at 60 s: ~17 hours.
    max_sweeps: int = 10


class Policy(BaseModel):
    case_number_prefix: str = "TS"
    organisation_zh: str = "客户服务中心"
    organisation_en: str = "Customer Service Centre"
    languages: list[str] = Field(default_factory=lambda: ["zh-CN", "en"])
    default_language: str = "zh-CN"
    limits: Limits = Limits()
    calendar: CalendarPolicy = CalendarPolicy()
    sla: SlaPolicy = SlaPolicy()
    categories: list[Category] = Field(default_factory=list)
    severity: SeverityPolicy = SeverityPolicy()
    classifier: ClassifierPolicy = ClassifierPolicy()
    routing: RoutingPolicy = RoutingPolicy()
    groups: list[Group] = Field(default_factory=list)
    staff: list[StaffMember] = Field(default_factory=list)
    staff_auth: StaffAuthPolicy = StaffAuthPolicy()


def load_policy(path: Path | str) -> Policy:
    with open(path, "rb") as f:
        return Policy.model_validate(tomllib.load(f))
