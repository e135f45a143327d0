"""Who may run commands: decide whether a mail filed on a case is a verified staff command mail.

Pure: the parsed mail, its correlation, the staff list and `StaffAuthPolicy` in; a `StaffAuth`
verdict out, with the reason in zh-CN and en when refused. A mail runs commands only when
  (a) its From is one mailbox, a staff address of the policy (the addr-spec, never the name),
  (b) it answers that staff member's signed reply address for this case, issued within
      `[staff_auth] token_days` (every mail we send them carries a fresh one, so a notification
      forwarded long ago authenticates nothing), or it is addressed to the intake mailbox with this case's tag
      in the subject and our own receiving server vouches for the From domain in an
      Authentication-Results header whose authserv-id the operator named (RFC 8601: dmarc, or
      dkim/spf aligned with the From domain); with no authserv-id named this route is off,
  (c) it is not auto-generated (RFC 3834; screening drops most of these already).
Everything else runs nothing. The caller logs every refusal; a refused staff address is told why
(the real owner of the address learns that someone tried), an impostor is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from config.policy_auth import StaffAuthPolicy
from config.policy_staff import StaffMember, staff_by_email
from workers.intake.correlate import Correlation
from workers.mail.casenumbers import case_tags
from workers.mail.parse import ParsedMail, addresses
from workers.mail.tokens import ReplyToken, read_reply_address

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# A name starts where its run of name characters starts and is taken whole (possessive):
# tried from every position of a long word, the old pattern cost the square of its length.
_PROPERTY = re.compile(r"(?<![\w.-])([\w.-]++)\s*+=\s*+(\"[^\"]*+\"|[^\s;]++)")
_BULK = {"bulk", "junk", "list"}
# Bounds on what a sender can make us read: real mail carries a handful of these headers.
_MAX_AR_HEADERS = 50
_MAX_AR_CHARS = 4096
_MAX_RECIPIENTS = 100  # the tokens looked for among To and Cc

# code -> (zh, en). `ok_*` codes allow; the others refuse.
REASONS: dict[str, tuple[str, str]] = {
    "ok_token": (
        "已验证：回复地址为您本人的签名地址。",
        "verified: sent to your signed reply address.",
    ),
    "ok_authenticated": (
        "已验证：收件服务器确认了发件域名（DKIM/SPF）。",
        "verified: our receiving server vouched for your domain (DKIM/SPF).",
    ),
    "not_staff": ("发件人不是工作人员。", "The sender is not a staff member."),
    "expired_token": (
        "邮件发往的回复地址已过期（签发于 {issued}，有效期 {days} 天）。请回复本邮件（其回复地址是新的），"
        "或回复最近发给您的通知。",
        "The reply address the mail went to has expired (issued {issued}, valid {days} days). "
        "Reply to this mail (its reply address is fresh) or to a recent notification.",
    ),
    "impostor": (
        "发件人显示名或其他发件地址冒用了工作人员地址，实际地址为 {sender}。",
        "The display name or another From mailbox names a staff address; the sender is {sender}.",
    ),
    "several_senders": (
        "邮件有多个发件人（From），无法确认是谁发出的命令。",
        "The mail has several From mailboxes; the author of the commands is unclear.",
    ),
    "auto_generated": (
        "邮件为自动发送（Auto-Submitted/Precedence），不执行其中的命令。",
        "The mail is automatic (Auto-Submitted/Precedence); its commands are not run.",
    ),
    "complainant_token": (
        "邮件发往投诉人的回复地址，而不是您本人的工作人员回复地址。请回复发给您的通知或确认邮件。",
        "The mail went to the complainant's reply address, not your staff reply address. Reply "
        "to a notification or confirmation sent to you.",
    ),
    "other_staff_token": (
        "邮件发往另一位工作人员（{token_staff}）的回复地址，命令只能由该工作人员发出。",
        "The mail went to the reply address of another staff member ({token_staff}); only they "
        "can use it.",
    ),
    "token_other_case": (
        "邮件中的回复地址属于另一个案件（{token_case}），不能用于本案件。",
        "The reply address in the mail belongs to another case ({token_case}); it cannot be "
        "used for this case.",
    ),
    "bad_token": (
        "回复地址中的验证码无效（{address}）。请直接回复发给您的通知或确认邮件，不要修改收件地址。",
        "The reply address token does not verify ({address}). Reply to a notification or "
        "confirmation sent to you without editing the address.",
    ),
    "no_token": (
        "邮件没有发往您本人的签名回复地址，且发件域名未经本方收件服务器验证（{detail}）。"
        "请回复发给您的通知或确认邮件。",
        "The mail was not sent to your signed reply address, and our receiving server did not "
        "verify your domain ({detail}). Reply to a notification or confirmation sent to you.",
    ),
}


@dataclass(frozen=True)
class StaffAuth:
    allowed: bool
    code: str
    staff: StaffMember | None  # the staff member the From names (None: not a staff address)
    zh: str
    en: str

    def text(self, language: str) -> str:
        return self.en if language.lower().startswith("en") else self.zh

    @property
    def is_attempt(self) -> bool:
        """True when this refusal belongs in the event log (someone tried to act as staff)."""
        return not self.allowed and self.code != "not_staff"


@dataclass(frozen=True)
class AuthResult:
    method: str
    result: str
    props: dict[str, str]


def _verdict(code: str, staff: StaffMember | None, **values: str) -> StaffAuth:
    zh, en = REASONS[code]
    return StaffAuth(code.startswith("ok_"), code, staff, zh.format(**values), en.format(**values))


def authorize(
    mail: ParsedMail,
    correlation: Correlation,
    staff: list[StaffMember],
    policy: StaffAuthPolicy,
    *,
    intake_address: str,
    secret: str | Sequence[str],
    case_prefix: str,
    today: date | None = None,
) -> StaffAuth:
    """May this mail, filed on `correlation.case`, run staff commands? See the module doc.
    `today` (UTC; default now) dates the staff reply addresses."""
    member = staff_by_email(staff, mail.from_addr)
    senders = addresses(", ".join(mail.headers.get("from", []))) or [mail.from_addr]
    if member is None:
        named = _staff_named(staff, mail.headers.get("from", []))
        return (
            _verdict("impostor", None, sender=mail.from_addr)
            if named
            else _verdict("not_staff", None)
        )
    if len(set(senders)) > 1:
        return _verdict("several_senders", member)
    if is_auto_generated(mail.headers):
        return _verdict("auto_generated", member)
    own = _own_token(mail, correlation.case.number, member.id, intake_address, secret)
    today = today or datetime.now(UTC).date()
    if own is not None and _fresh(own, policy.token_days, today):
        return _verdict("ok_token", member)
    refused = (
        _expired(own, member, policy.token_days)
        if own is not None
        else _token_refusal(mail, correlation, member, intake_address, secret)
    )
    if _to_intake(mail, intake_address) and correlation.case.number in case_tags(
        mail.subject, case_prefix
    ):
        passed, detail = domain_verified(mail, policy, intake_address)
        if passed:
            return _verdict("ok_authenticated", member)
    else:
        detail = "not sent to the intake address with this case's tag"
    return refused or _verdict("no_token", member, detail=detail)


def _own_token(
    mail: ParsedMail, case_number: str, staff_id: str, intake: str, secret: str | Sequence[str]
) -> ReplyToken | None:
    """The verified token of this staff member for this case among the mail's recipients."""
    for address in [*mail.to, *mail.cc][:_MAX_RECIPIENTS]:
        token = read_reply_address(address, intake, secret)
        if token is not None and token.case_number == case_number and token.staff_id == staff_id:
            return token
    return None


def _fresh(token: ReplyToken, days: int, today: date) -> bool:
    """Issued within `days` (a token of the old form, with no issue day, never is)."""
    return token.issued is not None and (today - token.issued).days <= days


def _expired(token: ReplyToken, member: StaffMember, days: int) -> StaffAuth:
    issued = token.issued.isoformat() if token.issued else "?"
    return _verdict("expired_token", member, issued=issued, days=str(days))


def _staff_named(staff: list[StaffMember], from_values: Iterable[str]) -> bool:
    """A staff address anywhere in the From header: a display name like "zhao@example.org"."""
    found = {m.lower() for value in from_values for m in _EMAIL.findall(value)}
    return any(s.email.lower() in found for s in staff)


def is_auto_generated(headers: dict[str, list[str]]) -> bool:
    auto = [v.strip().lower() for v in headers.get("auto-submitted", [])]
    precedence = {v.strip().lower() for v in headers.get("precedence", [])}
    return any(v and not v.startswith("no") for v in auto) or bool(precedence & _BULK)


def _token_refusal(
    mail: ParsedMail,
    correlation: Correlation,
    member: StaffMember,
    intake: str,
    secret: str | Sequence[str],
) -> StaffAuth | None:
    """The most specific reason the tokens in the mail do not authorise `member`, if any."""
    intake_local, _, intake_domain = intake.lower().partition("@")
    bad = None
    for address in [*mail.to, *mail.cc][:_MAX_RECIPIENTS]:
        token = read_reply_address(address, intake, secret)
        local, _, domain = address.lower().partition("@")
        if token is None:
            if local.startswith(intake_local + "+") and domain == intake_domain:
                bad = bad or address
            continue
        if token.case_number != correlation.case.number:
            if token.staff_id == member.id:
                return _verdict("token_other_case", member, token_case=token.case_number)
        elif token.staff_id is None:
            return _verdict("complainant_token", member)
        elif token.staff_id != member.id:
            return _verdict("other_staff_token", member, token_staff=token.staff_id)
    return _verdict("bad_token", member, address=bad) if bad else None


def _to_intake(mail: ParsedMail, intake: str) -> bool:
    """Addressed to the intake mailbox, plainly or with any subaddress."""
    intake_local, _, intake_domain = intake.lower().partition("@")
    for address in [*mail.to, *mail.cc]:
        local, _, domain = address.lower().partition("@")
        if domain == intake_domain and local.partition("+")[0] == intake_local:
            return True
    return False


def trusted_servers(policy: StaffAuthPolicy) -> set[str]:
    """The authserv-ids the operator named: only our own receiving servers (RFC 8601 s5).
    None named: no Authentication-Results header is trusted at all, since anyone can write one
    and the intake domain is no proof that our server wrote it."""
    return {s.strip().lower() for s in policy.trusted_authserv_ids if s.strip()}


def domain_verified(mail: ParsedMail, policy: StaffAuthPolicy, intake: str) -> tuple[bool, str]:
    """Whether a trusted Authentication-Results header vouches for the From domain, and why.

    Every header is read (a later hop may add its own above ours), and only those whose
    authserv-id the operator named count, each id's topmost one alone: a sender's own copy sits
    below it (RFC 8601 s5). The receiving MTA must also remove incoming headers bearing that id
    (README: "Authentication-Results"), for mail on which it adds none."""
    if not policy.allow_authenticated_domain:
        return False, "verification by domain is switched off"
    trusted = trusted_servers(policy)
    if not trusted:
        return False, "no trusted authserv-id is configured ([staff_auth] trusted_authserv_ids)"
    headers = mail.headers.get("authentication-results", [])
    if policy.trusted_header_count:
        headers = headers[: policy.trusted_header_count]
    from_domain = mail.from_addr.lower().rpartition("@")[2]
    seen, counted = [], set()
    for value in headers[:_MAX_AR_HEADERS]:
        server, results = parse_authentication_results(value[:_MAX_AR_CHARS])
        if server not in trusted:
            seen.append(f"untrusted server {server or '?'}")
            continue
        if server in counted:  # below our own: written before our server saw the mail
            continue
        counted.add(server)
        for result in results:
            if result.method in policy.methods and _aligned_pass(result, from_domain):
                return True, f"{result.method}=pass by {server}"
        seen.append(f"no aligned pass from {server}")
    return False, "; ".join(seen[:5]) or "no Authentication-Results header"


def _aligned_pass(result: AuthResult, from_domain: str) -> bool:
    if result.result != "pass":
        return False
    key = {"dmarc": "header.from", "dkim": "header.d", "spf": "smtp.mailfrom"}.get(result.method)
    if key is None:
        return False
    domain = result.props.get(key, "").strip('"').lower().rpartition("@")[2]
    # The signing or envelope domain is the From domain or its parent (relaxed alignment,
    # RFC 7489 s3.1); a sibling or child domain is someone else.
    return bool(domain) and (from_domain == domain or from_domain.endswith("." + domain))


def without_comments(value: str) -> str:
    """The header value with its comments (RFC 5322 s3.2.2 CFWS: nested, with quoted-pairs)
    each replaced by a space, in one pass; a "(" inside a quoted string is no comment. An
    unclosed comment runs to the end. Stripping the innermost comments again and again cost
    one pass per level of nesting, the square of a header's length."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
        elif ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
        elif depth == 0 and ch == '"':
            quoted = not quoted
            out.append(ch)
        elif quoted:
            out.append(ch)
        elif ch == "(":
            depth += 1
        elif ch == ")" and depth > 0:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def parse_authentication_results(value: str) -> tuple[str, list[AuthResult]]:
    """(authserv-id, results) of one Authentication-Results header value (RFC 8601 s2.2)."""
    head, *parts = without_comments(value).split(";")
    server = head.strip().split()[0].lower() if head.strip() else ""
    results = []
    for part in parts:
        pairs = _PROPERTY.findall(part)
        if not pairs:
            continue  # "none": no results
        (method, result), props = pairs[0], pairs[1:]
        results.append(
            AuthResult(
                method.lower().split("/")[0],
                result.strip('"').lower(),
                {k.lower(): v for k, v in props},
            )
        )
    return server, results
