"""React to a mail filed on an existing case: a staff command mail, or a complainant's reply.

Ingest's follow-up branch calls `react_to_follow_up` once the mail is filed (same transaction).
A mail with `#` command lines from a claimed staff address goes to `workers.casework.staff_mail`
(verified or refused by `workers.casework.staff_auth`); a mail from the complainant goes to
`workers.casework.complainant_mail`; anyone else's mail is only filed. Returns the outbound ids queued.
"""

from __future__ import annotations

from sqlmodel import Session

from config.policy_auth import StaffAuthPolicy
from models import RawMessage
from workers.app import App
from workers.casework.complainant_auth import complainant_verified
from workers.casework.complainant_mail import react_to_complainant
from workers.casework.staff_auth import StaffAuth, authorize
from workers.casework.staff_mail import read_commands, run_staff_mail
from workers.intake.correlate import Correlation
from workers.mail.parse import ParsedMail


def auth_policy(app: App) -> StaffAuthPolicy:
    return app.policy.staff_auth


def authorize_sender(app: App, correlation: Correlation, mail: ParsedMail) -> StaffAuth:
    """Whether this mail on its case speaks for a member of staff (workers.casework.staff_auth)."""
    return authorize(
        mail,
        correlation,
        app.policy.staff,
        auth_policy(app),
        intake_address=app.settings.intake_address,
        secret=app.verify_secrets,
        case_prefix=app.policy.case_number_prefix,
    )


def sender_role(auth: StaffAuth, mail: ParsedMail, case_complainant: str) -> str:
    """The role the case history files the mail under: "staff" only when staff authentication
    passed. A staff From without it (forged, or a member who lost the token) is "other", and
    its refusal is in the event log."""
    if auth.allowed:
        return "staff"
    if auth.staff is None and mail.from_addr == case_complainant.lower():
        return "complainant"
    return "other"


def react_to_follow_up(
    session: Session,
    app: App,
    correlation: Correlation,
    mail: ParsedMail,
    raw: RawMessage,
    auth: StaffAuth | None = None,
) -> list[int]:
    case = correlation.case
    at, occasion = raw.received_at, mail.message_id or f"raw{raw.id}"
    if auth is None:
        auth = authorize_sender(app, correlation, mail)
    ids: list[int] = []
    if auth.allowed or auth.is_attempt:
        commands = read_commands(app, mail)
        if commands.commands:
            ids = run_staff_mail(session, app, case, mail, at, occasion, auth, commands)
        if auth.staff is not None:
            return ids  # a staff address: never read as the complainant's words
    if mail.from_addr == case.complainant_email.lower():
        verified = complainant_verified(
            mail,
            case.number,
            auth_policy(app),
            intake_address=app.settings.intake_address,
            secret=app.verify_secrets,
        )
        ids += react_to_complainant(session, app, case, mail, at, occasion, verified=verified)
    return ids
