"""The token store: survives the process, is private to its owner, never prints a token."""

from __future__ import annotations

import stat
from pathlib import Path

from connectors.jushuitan.tokens import FileTokenStore, MemoryTokenStore, Token

TOKEN = Token(access_token="acc-0123456789", refresh_token="ref-9876543210", expires_at=1_800_000_000.5)


def test_file_store_round_trips_and_is_owner_only(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "state" / "token.json")
    assert store.load() is None
    store.save(TOKEN)
    assert FileTokenStore(store.path).load() == TOKEN
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["token.json"]  # no temporary file left


def test_file_store_replaces_the_previous_token(tmp_path: Path) -> None:
    store = FileTokenStore(tmp_path / "token.json")
    store.save(TOKEN)
    newer = Token("acc-new", None, None)
    store.save(newer)
    assert store.load() == newer


def test_unreadable_file_store_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text("{not json", encoding="utf-8")
    assert FileTokenStore(path).load() is None


def test_memory_store_keeps_the_last_token() -> None:
    store = MemoryTokenStore()
    assert store.load() is None
    store.save(TOKEN)
    assert store.load() is TOKEN


def test_reprs_never_show_token_values(tmp_path: Path) -> None:
    text = repr(TOKEN) + str(TOKEN) + repr(FileTokenStore(tmp_path / "t.json"))
    assert "acc-0123456789" not in text and "ref-9876543210" not in text
    assert "1800000000.5" in repr(TOKEN)


def test_fingerprint_is_stable_short_and_not_the_token() -> None:
    assert TOKEN.fingerprint == Token("acc-0123456789", None, None).fingerprint
    assert TOKEN.fingerprint != Token("acc-other", None, None).fingerprint
    assert len(TOKEN.fingerprint) == 12 and "acc" not in TOKEN.fingerprint


def test_expires_within_uses_the_margin() -> None:
    assert TOKEN.expires_within(100, now=1_800_000_000.5 - 50)
    assert not TOKEN.expires_within(100, now=1_800_000_000.5 - 150)
    assert not Token("a", None, None).expires_within(10**9, now=0)
