"""Who may work cases by mail: the `[staff_auth]` section of the policy file.

Read by `workers.casework.staff_auth` and `workers.casework.staff_mail`. Defaults are the safe ones: the signed
staff reply address always works; the DKIM/SPF route only trusts the intake domain's own
receiving servers.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class StaffAuthPolicy(BaseModel):
    # A staff mail sent to the plain intake address (no signed token) runs commands only when
    # our own receiving server vouches for its sender in an Authentication-Results header
    # (RFC 8601). These are the authserv-ids of our servers; empty means the intake domain and
    # `mx.<intake domain>`. A header naming any other server is ignored: anyone can write one.
    trusted_authserv_ids: list[str] = Field(default_factory=list)
    # How many Authentication-Results headers, counted from the top, our servers add. Only
    # those are read: a sender's own (forged) headers sit below them (RFC 8601 s5).
    trusted_header_count: int = Field(1, ge=0)
    # Which results authenticate the From domain. dkim and spf count only when aligned with
    # the From domain (the signing domain or the envelope sender's domain is it, or its parent).
    methods: list[str] = Field(default_factory=lambda: ["dmarc", "dkim", "spf"])
    # False turns the DKIM/SPF route off: staff must reply to their signed address.
    allow_authenticated_domain: bool = True
