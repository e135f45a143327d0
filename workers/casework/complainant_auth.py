"""Whether a complainant's mail may change their case: it came through their signed reply
address for it, or our receiving server vouches for its From domain.

Pure: the parsed mail, the case number and `StaffAuthPolicy` in; a yes or no out. Anyone can
write the complainant's From and the (sequential) case number in a subject, so those alone let
a mail add information, never withdraw, rate, answer an extension or open a review
(`workers.casework.complainant_plan`).
"""

from __future__ import annotations

from collections.abc import Sequence

from config.policy_auth import StaffAuthPolicy
from workers.casework.staff_auth import domain_verified
from workers.mail.parse import ParsedMail, addresses
from workers.mail.tokens import read_reply_address

_MAX_RECIPIENTS = 100  # the tokens looked for among To and Cc


def complainant_verified(
    mail: ParsedMail,
    case_number: str,
    policy: StaffAuthPolicy,
    *,
    intake_address: str,
    secret: str | Sequence[str],
) -> bool:
    senders = addresses(", ".join(mail.headers.get("from", []))) or [mail.from_addr]
    if len(set(senders)) > 1:
        return False  # whose request it is is unclear
    for address in [*mail.to, *mail.cc][:_MAX_RECIPIENTS]:
        token = read_reply_address(address, intake_address, secret)
        if token is not None and token.case_number == case_number and token.staff_id is None:
            return True
    return domain_verified(mail, policy, intake_address)[0]
