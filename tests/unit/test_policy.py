"""Policy resolution account → user group → user, with the explanation (R7, R8, R15)."""

from __future__ import annotations

import pytest

from calgate.domain.policy import (
    DEFAULTS,
    Access,
    ContactsAccess,
    PolicyOverrides,
    Provider,
    resolve,
)

ACCOUNT = PolicyOverrides(
    bidirectional_sync=True,
    calendar_access=Access.READ,
    contacts_access=ContactsAccess.READ,
    allowed_providers=frozenset({Provider.GOOGLE, Provider.MICROSOFT}),
)


def test_account_only_values_come_from_the_account_R15() -> None:
    eff = resolve(ACCOUNT)

    assert eff.bidirectional_sync.value is True
    assert eff.bidirectional_sync.source == "account"
    assert "the user is in no group" in eff.bidirectional_sync.reason
    assert eff.calendar_access.value is Access.READ
    assert eff.contacts_access.value is ContactsAccess.READ
    assert eff.allowed_providers.value == frozenset({Provider.GOOGLE, Provider.MICROSOFT})
    # Not set by the account: calgate's default, and it says so.
    assert eff.google_calendar_access.source == "default"
    assert "neither account nor group" in eff.google_calendar_access.reason


def test_group_overrides_the_account_and_explains_why_R15() -> None:
    group = PolicyOverrides(bidirectional_sync=False, calendar_access=Access.READ_WRITE)

    eff = resolve(ACCOUNT, group, group_name="Sales")

    assert eff.bidirectional_sync.value is False  # False is a value, not "unset"
    assert eff.bidirectional_sync.source == "group"
    assert "'Sales'" in eff.bidirectional_sync.reason
    assert "overriding the account" in eff.bidirectional_sync.reason
    assert eff.calendar_access.value is Access.READ_WRITE
    assert eff.calendar_access.source == "group"
    # Values the group does not set still come from the account, with the group named.
    assert eff.contacts_access.source == "account"
    assert "user group 'Sales' does not set it" in eff.contacts_access.reason


def test_user_without_a_group_and_nothing_set_gets_defaults_R15() -> None:
    eff = resolve(PolicyOverrides())

    for name, rv in eff.as_dict().items():
        assert rv.source == "default", name
        assert rv.value == getattr(DEFAULTS, name)
    assert eff.bidirectional_sync.value is False  # R8: sync is opt-in
    assert eff.contacts_access.value is ContactsAccess.NONE
    assert eff.allowed_providers.value == frozenset(Provider)


def test_empty_group_changes_nothing_but_the_explanation_R15() -> None:
    with_group = resolve(ACCOUNT, PolicyOverrides(), group_name="Empty")
    without = resolve(ACCOUNT)

    for name in with_group.as_dict():
        assert with_group.as_dict()[name].value == without.as_dict()[name].value
    assert "user group 'Empty' does not set it" in with_group.calendar_access.reason


@pytest.mark.parametrize(
    ("calendar", "ceiling", "google", "microsoft"),
    [
        (Access.READ_WRITE, Access.READ_WRITE, Access.READ_WRITE, Access.READ_WRITE),
        (Access.READ_WRITE, Access.READ, Access.READ, Access.READ_WRITE),
        (Access.READ, Access.READ_WRITE, Access.READ, Access.READ),
        (Access.READ, Access.READ, Access.READ, Access.READ),
    ],
)
def test_google_ceiling_only_lowers_access_R7(
    calendar: Access, ceiling: Access, google: Access, microsoft: Access
) -> None:
    eff = resolve(PolicyOverrides(calendar_access=calendar, google_calendar_access=ceiling))

    assert eff.calendar_access_for(Provider.GOOGLE) is google
    assert eff.calendar_access_for(Provider.MICROSOFT) is microsoft
    assert eff.calendar_access_for(Provider.EXCHANGE) is microsoft


def test_google_ceiling_explains_when_calendar_access_limits_it_R7() -> None:
    eff = resolve(PolicyOverrides(calendar_access=Access.READ))

    assert eff.google_calendar_access.value is Access.READ
    assert eff.google_calendar_access.source == "default"
    assert "limited to read by calendar_access" in eff.google_calendar_access.reason


def test_group_can_lower_the_google_ceiling_for_its_users_R7() -> None:
    account = PolicyOverrides(calendar_access=Access.READ_WRITE)
    group = PolicyOverrides(google_calendar_access=Access.READ)

    eff = resolve(account, group, group_name="Contractors")

    assert eff.calendar_access_for(Provider.GOOGLE) is Access.READ
    assert eff.calendar_access_for(Provider.MICROSOFT) is Access.READ_WRITE
    assert eff.google_calendar_access.source == "group"


def test_allowed_providers_R7() -> None:
    eff = resolve(ACCOUNT, PolicyOverrides(allowed_providers=frozenset()), group_name="None")

    assert not any(eff.allows_provider(p) for p in Provider)
    assert resolve(ACCOUNT).allows_provider(Provider.GOOGLE)
    assert not resolve(ACCOUNT).allows_provider(Provider.CALDAV)


def test_bidirectional_sync_set_per_group_R8() -> None:
    account = PolicyOverrides(bidirectional_sync=False)

    on = resolve(account, PolicyOverrides(bidirectional_sync=True), group_name="Engineering")
    off = resolve(account, PolicyOverrides(), group_name="Sales")

    assert on.bidirectional_sync.value is True
    assert on.bidirectional_sync.source == "group"
    assert off.bidirectional_sync.value is False
    assert off.bidirectional_sync.source == "account"


def test_overrides_round_trip_and_partial_merge() -> None:
    data = ACCOUNT.to_dict()
    assert data == {
        "bidirectional_sync": True,
        "calendar_access": "read",
        "contacts_access": "read",
        "allowed_providers": ["google", "microsoft"],
    }
    assert PolicyOverrides.from_dict(data) == ACCOUNT

    merged = ACCOUNT.merged({"calendar_access": None, "google_calendar_access": "read"})
    assert merged.calendar_access is None  # null clears: inherits again
    assert merged.google_calendar_access is Access.READ
    assert merged.bidirectional_sync is True  # untouched keys stay
    assert PolicyOverrides().to_dict() == {}
    assert PolicyOverrides.from_dict(None) == PolicyOverrides()


def test_unknown_policy_values_are_refused() -> None:
    with pytest.raises(ValueError, match="write"):
        PolicyOverrides.from_dict({"calendar_access": "write"})
    with pytest.raises(ValueError, match="yahoo"):
        PolicyOverrides.from_dict({"allowed_providers": ["yahoo"]})
