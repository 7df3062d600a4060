"""The Jushuitan call budget in the state database (state/budget.py): limiters that share only the database
count each other's calls, on SQLite and PostgreSQL; and two OS processes that share nothing but PostgreSQL
(and the token) stay within the emulator's 5/s and 100/min together, over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from connectors.jushuitan import JushuitanClient
from connectors.jushuitan.tokens import FileTokenStore
from connectors.settings import JushuitanSettings
from sandbox.server import BackgroundServer
from state.budget import DatabaseRateLimiter
from state.database import connect
from state.settings import SyncSettings
from tests.state.postgres import Postgres

KEY = ("token", "/open/shops/query")
ROOT = Path(__file__).resolve().parents[2]


class Waited(Exception):
    """Raised by a sleep that must not happen, carrying how long the limiter asked to wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"asked to wait {seconds:.3f} s")
        self.seconds = seconds


def refuse_to_wait(seconds: float) -> None:
    raise Waited(seconds)


def called_at(engine: Engine, budget: str = "token|/open/shops/query") -> list[float]:
    with engine.connect() as connection:
        query = text("SELECT called_at FROM jushuitan_calls WHERE budget = :budget ORDER BY called_at")
        return list(connection.execute(query, {"budget": budget}).scalars())


@pytest.fixture
def engines(state_settings: SyncSettings) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one store, as two hosts have: nothing shared but the database."""
    first, second = connect(state_settings), connect(state_settings)
    yield first, second
    first.dispose()
    second.dispose()


def test_limiters_sharing_only_the_database_count_each_others_calls(engines: tuple[Engine, Engine]) -> None:
    limits = ((2, 1.0), (3, 10.0))
    first, second = (DatabaseRateLimiter(engine, limits, sleep=refuse_to_wait) for engine in engines)
    first.acquire(KEY)
    second.acquire(KEY)
    second.acquire(("token", "/open/wms/partner/query"))  # another API has a budget of its own
    with pytest.raises(Waited) as second_full:
        first.acquire(KEY)  # the second's call counts: the short window (1 s + 0.1 s margin) holds 2
    assert 0 < second_full.value.seconds <= 1.1
    assert len(called_at(engines[0])) == 2  # a refused turn records nothing
    time.sleep(second_full.value.seconds)
    first.acquire(KEY)
    with pytest.raises(Waited) as long_full:  # and the long window (10 s + 0.1 s) now holds 3
        second.acquire(KEY)
    assert 1.1 < long_full.value.seconds <= 10.1
    times = called_at(engines[0])
    assert len(times) == 3
    assert times[2] - times[0] >= 1.1  # the database's times: the third call waited out the short window


def test_old_calls_are_pruned_and_times_ahead_of_the_clock_do_not_block(engines: tuple[Engine, Engine]) -> None:
    engine = engines[0]
    with engine.begin() as connection:
        now = time.time()
        for moment in (now - 3600, now - 120, now + 3600):  # the last written before the clock stepped back
            connection.execute(
                text("INSERT INTO jushuitan_calls (budget, called_at) VALUES ('token|/open/shops/query', :at)"),
                {"at": moment},
            )
    DatabaseRateLimiter(engine, ((1, 1.0), (100, 60.0)), sleep=refuse_to_wait).acquire(KEY)
    (kept,) = called_at(engine)
    assert abs(kept - time.time()) < 5  # the database's clock, on this host the same as ours


def test_threads_of_two_limiters_never_overfill_a_window(engines: tuple[Engine, Engine]) -> None:
    """Six threads on two engines race for a budget of 3 per 0.5 s: the turns they took, in the database's
    own times, never hold more than 3 in any 0.6 s (the window plus its margin). The minute keeps the rows."""
    limiters = [DatabaseRateLimiter(engine, ((3, 0.5), (100, 60.0))) for engine in engines]
    threads = [threading.Thread(target=lambda n=n: [limiters[n % 2].acquire(KEY) for _ in range(2)]) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = called_at(engines[0])
    assert len(times) == 12
    for i, moment in enumerate(times):
        assert sum(1 for t in times[i:] if t < moment + 0.6) <= 3


# --- two OS processes on one PostgreSQL database, over real HTTP -------------------------------------------

# One "host": waits for the go file, then calls one API from two threads for SECONDS through the production
# wiring (deploy.blocks.jushuitan_client: the state database's budget), and prints how many calls it made.
HOST = textwrap.dedent(
    """
    import process_settings
    import sys, threading, time
    from pathlib import Path
    from connectors.settings import JushuitanSettings
    from deploy.blocks import jushuitan_client

    go, seconds = Path(sys.argv[1]), float(sys.argv[2])
    with jushuitan_client(JushuitanSettings()) as client:
        Path(sys.argv[1] + ".ready-" + sys.argv[3]).touch()
        while not go.exists():
            time.sleep(0.01)
        deadline, calls = time.monotonic() + seconds, []

        def call():
            while time.monotonic() < deadline:
                client.call("/open/shops/query", {"page_index": 1, "page_size": 100})
                calls.append(1)

        threads = [threading.Thread(target=call) for _ in range(2)]
        [thread.start() for thread in threads]
        [thread.join() for thread in threads]
    print(len(calls))
    """
)
SECONDS = 4.0


def test_two_processes_sharing_only_postgresql_stay_within_the_platform_limits(
    postgres: Postgres, jst_server: BackgroundServer, tmp_path: Path
) -> None:
    database = f"test_{uuid.uuid4().hex}"
    postgres.execute(f"CREATE DATABASE {database}")
    token = tmp_path / "token.json"
    with JushuitanClient(JushuitanSettings(base_url=jst_server.url), token_store=FileTokenStore(token)) as client:
        list(client.warehouses())  # the app's one token, which both hosts load (a block does it in deployments)
    go = tmp_path / "go"
    hosts = []
    for host in ("a", "b"):
        state = tmp_path / f"host-{host}"
        state.mkdir()
        (state / "token.json").write_bytes(token.read_bytes())
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "JST_BASE_URL": jst_server.url,
            "JST_TOKEN_STORE_PATH": str(state / "token.json"),
            "SYNC_STATE_DIR": str(state),
            "SYNC_DATABASE_URL": str(postgres.url(database)),
            "PREFECT_HOME": str(tmp_path / "prefect"),
        }
        command = [sys.executable, "-c", HOST, str(go), str(SECONDS), host]
        hosts.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{go}.ready-{host}").exists() for host in ("a", "b")):
            assert all(process.poll() is None for process in hosts), [p.communicate() for p in hosts]
            assert time.monotonic() < deadline, "the hosts did not start"
            time.sleep(0.05)
        go.touch()
        outputs = [process.communicate(timeout=120) for process in hosts]
    finally:
        for process in hosts:
            process.kill()
        postgres.execute(f"DROP DATABASE {database} WITH (FORCE)")
    assert all(process.returncode == 0 for process in hosts), outputs
    calls = [int(out.decode().split()[-1]) for out, _ in outputs]
    stats = httpx.get(f"{jst_server.url}/__admin/stats", trust_env=False).json()
    (peak,) = [p for p in stats["peaks"] if p["path"] == "/open/shops/query"]
    assert min(calls) >= 3, calls  # both hosts called at once...
    assert sum(calls) >= 3 * SECONDS, calls  # ...enough to have overfilled 5/s had each kept a budget of its own
    assert peak["max_calls_per_second"] <= 5, (peak, calls)
    assert peak["max_calls_per_minute"] <= 100
    assert not stats["rejected"].get("/open/shops/query"), json.dumps(stats["rejected"])
