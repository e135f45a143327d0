"""as_severity: a severity read back from a case's column as one of the policy's levels."""

from __future__ import annotations

import pytest

from workers.triage.route import as_severity


def test_as_severity_takes_the_policy_levels_and_refuses_other_words() -> None:
    assert [as_severity(level) for level in ("general", "important", "major")] == [
        "general",
        "important",
        "major",
    ]
    for word in ("urgent", "Major", ""):
        with pytest.raises(ValueError):
            as_severity(word)
