"""Quick follow-ups through the deployed processes (issue 11 item 1): the poller and a real
Dramatiq worker (the Procfile's threads) against Dovecot, Redis, PostgreSQL and an SMTP sink.

What a complainant sees: they send a complaint and, seconds later, a mail answering their own
first one; both arrive in one poll (half of them with the follow-up first in the mailbox, as
after an outage or from two folders). Each gets one case and one acknowledgement, and the
follow-up is on that case.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import Stack, query, wait_until
from tests.integration.test_intake_e2e import wait_idle
from tests.unit.test_hostile_mail import simple_mail

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

PAIRS = 13


def pair(i: int) -> list[bytes]:
    sender, first = f"quick{i}@qq.com", f"<q{i}.first@qq.com>"
    complaint = simple_mail(sender, f"宽带断网 {i}", "宽带断网三天了。", message_id=first[1:-1])
    follow_up = simple_mail(
        sender,
        f"Re: 宽带断网 {i}",
        "补充：路由器红灯一直闪。",
        f"In-Reply-To: {first}",
        f"References: {first}",
        message_id=f"q{i}.second@qq.com",
    )
    return [complaint, follow_up] if i % 2 else [follow_up, complaint]


def test_a_complaint_and_its_quick_follow_up_make_one_case(stack: Stack) -> None:
    stack.append_all([raw for i in range(PAIRS) for raw in pair(i)])
    stack.start_worker()
    stack.start_poller()

    wait_idle(stack, 2 * PAIRS)
    wait_until(
        lambda: len(stack.sink.messages) >= PAIRS, 120, f"{PAIRS} acknowledgements at the sink"
    )

    per_sender = query(
        stack.db_url,
        'SELECT c.complainant_email, count(DISTINCT c.id), count(m.id) FROM "case" c '
        "JOIN message m ON m.case_id = c.id AND m.direction = 'in' GROUP BY 1 ORDER BY 1",
    )
    assert sorted(per_sender) == sorted((f"quick{i}@qq.com", 1, 2) for i in range(PAIRS))
    acks = query(
        stack.db_url,
        "SELECT to_addr, count(*) FROM outbound_email WHERE kind = 'acknowledgement' GROUP BY 1",
    )
    assert sorted(acks) == sorted((f"quick{i}@qq.com", 1) for i in range(PAIRS))
    rcpts = [r for m in stack.sink.messages for r in m.rcpt_tos if r.startswith("quick")]
    assert sorted(rcpts) == sorted(f"quick{i}@qq.com" for i in range(PAIRS))
