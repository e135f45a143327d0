"""Who may work cases by mail: the `[staff_auth]` section of the policy file.

Read by `workers.casework.staff_auth` and `workers.casework.staff_mail`. Defaults are the safe
ones: the signed staff reply address works while it is fresh; the DKIM/SPF route is off until
the operator names the authserv-ids of their own receiving servers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StaffAuthPolicy(BaseModel):
    # A staff mail sent to the plain intake address (no signed token) runs commands only when
    # our own receiving server vouches for its sender in an Authentication-Results header
    # (RFC 8601). These are the authserv-ids of our servers, named explicitly; empty turns the
    # route off. A header naming any other server is ignored: anyone can write one. Our MTA must
    # strip incoming headers that bear our id (README: "Authentication-Results").
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # 0: read every Authentication-Results header (those with a trusted id count); N: only the
    # top N, when the operator knows how many their servers add.
    trusted_header_count: int = Field(0, ge=0)
    # Which results authenticate the From domain. dkim and spf count only when aligned with
    # the From domain (the signing domain or the envelope sender's domain is it, or its parent).
    methods: list[str] = Field(default_factory=lambda: ["dmarc", "dkim", "spf"])
    # Days a staff reply address authenticates commands after it was issued. Every mail we send
    # a staff member carries a fresh one, so this bounds what a forwarded or leaked old
    # notification is worth; a reply to an older one is refused and answered with a fresh one.
    token_days: int = Field(30, ge=1)
    # False turns the DKIM/SPF route off: staff must reply to their signed address.
    allow_authenticated_domain: bool = True
