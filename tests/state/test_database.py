from __future__ import annotations

import logging

import pytest
from sqlalchemy import make_url, text

from state import database
from state.database import DatabaseUnreachable, SchemaTooNew, StateDamaged, connect, database_url
from state.settings import SyncSettings
from tests.state.postgres import free_port

PASSWORD = "s3cret-Pa55"


def test_the_default_store_is_a_sqlite_file_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNC_DATABASE_URL", raising=False)
    url = database_url(SyncSettings(state_dir=tmp_path / "state"))
    assert url.get_backend_name() == "sqlite" and url.database == str(tmp_path / "state" / "state.sqlite")


def test_a_new_store_gets_every_migration_once(state_settings):
    for _ in range(2):
        engine = connect(state_settings)
    with engine.connect() as db:
        versions = db.execute(text("SELECT version FROM schema_migrations ORDER BY version")).scalars().all()
    assert versions == list(range(1, len(database.MIGRATIONS) + 1))


def test_a_store_of_an_older_version_is_migrated_and_keeps_its_rows(state_settings, monkeypatch):
    with connect(state_settings).begin() as db:
        db.execute(
            text(
                "INSERT INTO held_documents (sync, document, status, first_seen, last_seen)"
                " VALUES ('outbound', '1001', 'held', 't0', 't0')"
            )
        )
    step = ("ALTER TABLE held_documents ADD COLUMN note TEXT", "UPDATE held_documents SET note = 'kept'")
    monkeypatch.setattr(database, "MIGRATIONS", (*database.MIGRATIONS, step))
    with connect(state_settings).connect() as db:
        rows = db.execute(text("SELECT document, status, note FROM held_documents")).all()
        version = db.execute(text("SELECT MAX(version) FROM schema_migrations")).scalar_one()
    assert [tuple(row) for row in rows] == [("1001", "held", "kept")]
    assert version == len(database.MIGRATIONS)


def test_code_older_than_the_schema_refuses_the_store(state_settings, monkeypatch):
    connect(state_settings)
    monkeypatch.setattr(database, "MIGRATIONS", database.MIGRATIONS[:-1])
    with pytest.raises(SchemaTooNew, match="upgrade this worker's code"):
        connect(state_settings)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://sync:{PASSWORD}@127.0.0.1:{free_port()}/state",
        "sqlite:///{tmp}/a-file/state.sqlite",
    ],
    ids=["postgresql-port-closed", "sqlite-folder-is-a-file"],
)
def test_an_unreachable_store_fails_at_start_naming_it_without_its_password(url, tmp_path, monkeypatch, caplog):
    (tmp_path / "a-file").write_text("not a folder")
    url = url.format(tmp=tmp_path)
    monkeypatch.setenv("SYNC_DATABASE_URL", url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DatabaseUnreachable) as unreachable:
        connect(SyncSettings(state_dir=tmp_path / "state"))
    message = str(unreachable.value)
    assert "cannot be reached" in message and "nothing was read or written" in message
    assert str(make_url(url)) in message and PASSWORD not in message
    assert PASSWORD not in caplog.text and PASSWORD not in repr(SyncSettings())
    assert not (tmp_path / "state").exists()


def test_a_url_of_another_database_is_refused_without_its_password(monkeypatch):
    monkeypatch.setenv("SYNC_DATABASE_URL", f"mysql://sync:{PASSWORD}@127.0.0.1/state")
    with pytest.raises(ValueError, match="neither a SQLite file") as refused:
        database_url(SyncSettings())
    assert "mysql://sync:***@127.0.0.1/state" in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_damaged_sqlite_store_fails_naming_the_file_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNC_DATABASE_URL", raising=False)
    settings = SyncSettings(state_dir=tmp_path)
    (tmp_path / "state.sqlite").write_bytes(b"\x00garbage, not a database\xff" * 200)
    with pytest.raises(StateDamaged) as damaged:
        connect(settings)
    message = str(damaged.value)
    assert str(tmp_path / "state.sqlite") in message and "backup" in message and "move it aside" in message
