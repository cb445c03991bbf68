"""The write guard (R7): read-only policies are refused, naming the policy that decides."""

from __future__ import annotations

import pytest

from calgate.connections.guard import ensure_write_allowed
from calgate.domain.policy import PolicyOverrides, Provider, resolve
from calgate.errors import PolicyDenied


def policy(**values: str):
    return resolve(PolicyOverrides.from_dict(values))


@pytest.mark.parametrize(
    ("values", "provider", "refused_by"),
    [
        ({}, Provider.GOOGLE, None),
        ({}, Provider.MICROSOFT, None),
        ({"calendar_access": "read"}, Provider.MICROSOFT, "calendar_access"),
        ({"calendar_access": "read"}, Provider.GOOGLE, "calendar_access"),
        ({"google_calendar_access": "read"}, Provider.GOOGLE, "google_calendar_access"),
        ({"google_calendar_access": "read"}, Provider.MICROSOFT, None),
    ],
)
def test_calendar_writes_follow_the_policy_R7(values, provider, refused_by) -> None:
    if refused_by is None:
        ensure_write_allowed(policy(**values), provider)
        return
    with pytest.raises(PolicyDenied) as caught:
        ensure_write_allowed(policy(**values), provider)
    assert caught.value.policy == refused_by
    assert "did not write" in caught.value.detail


@pytest.mark.parametrize(
    ("contacts", "provider", "allowed"),
    [
        ("read_write", Provider.MICROSOFT, True),
        ("read", Provider.MICROSOFT, False),
        ("none", Provider.MICROSOFT, False),
        ("read_write", Provider.GOOGLE, False),
    ],
)
def test_contact_writes_follow_the_policy_R7(contacts, provider, allowed) -> None:
    p = policy(contacts_access=contacts)
    if allowed:
        ensure_write_allowed(p, provider, "contacts")
        return
    with pytest.raises(PolicyDenied) as caught:
        ensure_write_allowed(p, provider, "contacts")
    assert caught.value.policy == "contacts_access"
