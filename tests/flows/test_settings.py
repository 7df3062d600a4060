"""SYNC_OUTBOUND_BOOKED_STATUSES: a comma-separated list, checked when the settings load."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from state.settings import SyncSettings


def test_outbound_booked_statuses_default_to_confirmed_and_archive(monkeypatch):
    monkeypatch.delenv("SYNC_OUTBOUND_BOOKED_STATUSES", raising=False)
    settings = SyncSettings()
    assert settings.outbound_booked_statuses == ("Confirmed", "Archive")
    assert settings.scheme().outbound_booked_statuses == ("Confirmed", "Archive")


def test_outbound_booked_statuses_are_read_comma_separated(monkeypatch):
    monkeypatch.setenv("SYNC_OUTBOUND_BOOKED_STATUSES", " Confirmed ,Archive,Confirmed")
    assert SyncSettings().scheme().outbound_booked_statuses == ("Confirmed", "Archive")
    monkeypatch.setenv("SYNC_OUTBOUND_BOOKED_STATUSES", "Confirmed")
    assert SyncSettings().scheme().outbound_booked_statuses == ("Confirmed",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "at least one status"),
        (" , ", "at least one status"),
        ("Confirmed,Cancelled", "Cancelled"),
        ("Confirmed,Delete", "Delete"),
    ],
)
def test_outbound_booked_statuses_reject_what_cannot_be_booked(monkeypatch, value, message):
    monkeypatch.setenv("SYNC_OUTBOUND_BOOKED_STATUSES", value)
    with pytest.raises(ValidationError, match=message) as raised:
        SyncSettings()
    assert "SYNC_OUTBOUND_BOOKED_STATUSES" in str(raised.value)
