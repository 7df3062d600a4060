from __future__ import annotations

import logging
import multiprocessing
import uuid

import pytest
from sqlalchemy import make_url, text

from state import database
from state.database import DatabaseUnreachable, SchemaTooNew, StateDamaged, StateLost, connect, database_url
from state.settings import SyncSettings
from tests.state.forwarder import forwarding
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


def test_one_engine_per_store_and_process_migrated_once(state_settings, monkeypatch):
    migrations, migrate = [], database.migrate
    monkeypatch.setattr(database, "migrate", lambda connection: migrations.append(migrate(connection)))
    engines = {id(connect(state_settings)) for _ in range(3)}
    assert len(engines) == 1 and len(migrations) == 1
    other = connect(state_settings.model_copy(update={"state_dir": state_settings.state_dir / "other"}))
    assert (id(other) in engines) == (state_settings.database_url is not None)  # one PostgreSQL URL, two files


def test_a_schema_upgraded_by_another_host_is_refused_by_the_kept_engine(state_settings):
    engine = connect(state_settings)
    with engine.begin() as db:
        db.execute(text("INSERT INTO schema_migrations VALUES (:v, 'later')"), {"v": len(database.MIGRATIONS) + 1})
    with pytest.raises(SchemaTooNew, match=f"schema version {len(database.MIGRATIONS) + 1}"):
        connect(state_settings)


def _sqlite_settings(tmp_path, monkeypatch) -> SyncSettings:
    monkeypatch.delenv("SYNC_DATABASE_URL", raising=False)
    return SyncSettings(state_dir=tmp_path)


def test_a_sqlite_file_moved_aside_is_started_anew_by_the_kept_engine(tmp_path, monkeypatch):
    settings = _sqlite_settings(tmp_path, monkeypatch)
    connect(settings)
    (tmp_path / "state.sqlite").rename(tmp_path / "state.sqlite.corrupt")
    with connect(settings).connect() as db:
        assert db.execute(text("SELECT COUNT(*) FROM held_documents")).scalar_one() == 0


def test_a_sqlite_file_damaged_while_its_engine_is_kept_fails_naming_the_file(tmp_path, monkeypatch):
    settings = _sqlite_settings(tmp_path, monkeypatch)
    engine = connect(settings)
    for name in ("state.sqlite-wal", "state.sqlite-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    (tmp_path / "state.sqlite").write_bytes(b"\x00garbage, not a database\xff" * 200)
    for use in (lambda: connect(settings), lambda: engine.connect().execute(text("SELECT * FROM held_documents"))):
        with pytest.raises(StateDamaged, match="move it aside") as damaged:
            use()
        assert str(tmp_path / "state.sqlite") in str(damaged.value)


def test_a_server_lost_and_back_fails_clearly_then_serves_the_kept_rows(postgres, monkeypatch):
    name = f"test_{uuid.uuid4().hex}"
    postgres.execute(f"CREATE DATABASE {name}")
    with forwarding(postgres) as forwarder:
        url = forwarder.url(postgres.url(name)).set(password=PASSWORD)
        monkeypatch.setenv("SYNC_DATABASE_URL", url.render_as_string(hide_password=False))
        settings = SyncSettings()
        engine = connect(settings)
        insert = text("INSERT INTO sync_runs VALUES (:id, 'outbound', NULL, NULL, false, '{}', 'r', 't0', 't1')")
        with engine.begin() as db:
            db.execute(insert, {"id": "before"})
        forwarder.cut()
        with pytest.raises(DatabaseUnreachable, match="cannot be reached") as unreachable:
            connect(settings)
        with pytest.raises(StateLost, match="stopped answering.*before its watermark moves") as lost:
            with engine.begin() as db:
                db.execute(insert, {"id": "while lost"})
        assert all(PASSWORD not in str(error.value) for error in (unreachable, lost))
        forwarder.restore()
        with connect(settings).connect() as db:
            assert db.execute(text("SELECT run_id FROM sync_runs")).scalars().all() == ["before"]
        assert connect(settings) is engine
    postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _engine_in_a_forked_child(settings: SyncSettings, parents: int, answer) -> None:
    inherited = len(database._ENGINES)
    engine = connect(settings)
    with engine.connect() as db:
        db.execute(text("SELECT COUNT(*) FROM sync_runs")).scalar_one()
    answer.send((inherited, id(engine) != parents))


def test_a_forked_process_makes_its_own_engine(state_settings):
    parents = connect(state_settings)
    fork = multiprocessing.get_context("fork")
    mine, theirs = fork.Pipe()
    child = fork.Process(target=_engine_in_a_forked_child, args=(state_settings, id(parents), theirs))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and mine.recv() == (0, True)
    assert connect(state_settings) is parents
