"""The Jushuitan call budget across hosts, two ways, measured on real servers.

`python -m bench.budget [--seconds 70] [--hosts 2] [--threads 2]`: for each approach, an emulator with the
platform's limits (5/s, 100/min per token and API), and `--hosts` OS processes, each with a state folder of
its own (nothing shared but the servers), each calling one Jushuitan API from `--threads` threads as fast as
the budget allows, with one token:

- `database-postgresql`: state/budget.py on a PostgreSQL state database (advisory lock per key, its clock);
- `prefect-sqlite` / `prefect-postgresql`: a Prefect global concurrency limit per token and API with slot
  decay, taken with `prefect.concurrency.sync.rate_limit` per call, on a Prefect server whose database is
  SQLite (the default) or PostgreSQL. A token bucket: a burst of `limit`, then `slot_decay_per_second`, so
  it is sized `limit + decay * 60.6 s <= 100` and `limit + decay * 1.15 s <= 5` (the windows the database
  limiter keeps, margins included).

Printed per approach: calls made, the achieved rate (over the run, the busiest second and minute, as the
clients sent them) against the quota, the emulator's peak_second / peak_minute and its 199/200 refusals, and
what one acquisition costs (uncontended, and while the budget is spent). Ends with one RESULT line.
"""

from __future__ import annotations

import process_settings  # noqa: F401  first: its defaults must be set before Prefect or Polars load

import argparse
import bisect
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Hashable
from pathlib import Path

import httpx

from connectors.http import CallLimiter
from connectors.jushuitan import JushuitanClient
from connectors.jushuitan.client import call_limits
from connectors.jushuitan.tokens import FileTokenStore
from connectors.settings import JushuitanSettings
from deploy.serve import BIN, Processes, free_port, prefect_env, start_prefect_server
from sandbox.data import generate_world
from sandbox.jushuitan import create_app
from sandbox.server import serve_in_thread
from state.budget import DatabaseRateLimiter
from state.database import connect
from state.settings import SyncSettings
from tests.state.postgres import serving as serving_postgres

CALLED = "/open/shops/query"  # the API every worker calls; the token is fetched with another one
APPROACHES = ("database-postgresql", "prefect-sqlite", "prefect-postgresql")
PER_SECOND, PER_MINUTE = 5, 100
# The token bucket within both windows (see the module docstring): 1 + 1.63 * 60.6 = 99.8, 1 + 1.63 * 1.15 = 2.9.
BUCKET_LIMIT, BUCKET_DECAY = 1, 1.63
UNCONTENDED = "uncontended"


def prefect_limit_name(key: Hashable) -> str:
    """A global concurrency limit name for a (token fingerprint, API path) key."""
    return "jst-" + re.sub(r"[^a-z0-9]+", "-", "-".join(map(str, key)).lower()).strip("-")


class PrefectRateLimit:
    """A CallLimiter over Prefect global concurrency limits with slot decay, one per key (created beforehand)."""

    def acquire(self, key: Hashable) -> None:
        from prefect.concurrency.sync import rate_limit

        rate_limit(prefect_limit_name(key), occupy=1, strict=True)


class Timed:
    """Wraps a limiter and keeps how long each acquisition took."""

    def __init__(self, limiter: CallLimiter) -> None:
        self.limiter = limiter
        self.seconds: list[float] = []
        self.taken: list[float] = []  # wall-clock time each turn was taken (one host: one clock)

    def acquire(self, key: Hashable) -> None:
        started = time.perf_counter()
        self.limiter.acquire(key)
        self.seconds.append(time.perf_counter() - started)
        self.taken.append(time.time())


def budget_limiter(approach: str, settings: JushuitanSettings) -> CallLimiter:
    if approach.startswith("database"):
        return DatabaseRateLimiter(connect(SyncSettings()), call_limits(settings))
    return PrefectRateLimit()


# --- one "host" ------------------------------------------------------------------------------


def run_host(approach: str, seconds: float, threads: int, out: Path) -> None:
    """Call CALLED from `threads` threads for `seconds`, within the approach's budget; write what happened."""
    settings = JushuitanSettings()
    limiter = Timed(budget_limiter(approach, settings))
    failures: list[str] = []
    deadline = time.monotonic() + seconds
    with JushuitanClient(settings, token_store=FileTokenStore(settings.token_store_path), limiter=limiter) as client:

        def calls() -> None:
            while time.monotonic() < deadline:
                try:
                    client.call(CALLED, {"page_index": 1, "page_size": 100})
                except Exception as exc:  # noqa: BLE001  counted and printed, the others go on
                    failures.append(f"{type(exc).__name__}: {exc}")

        workers = [threading.Thread(target=calls) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    out.write_text(json.dumps({"acquire_seconds": limiter.seconds, "taken": limiter.taken, "failures": failures}))


# --- the measurement -------------------------------------------------------------------------


def busiest(times: list[float], window: float) -> int:
    """The most calls in any `window` seconds."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + window - 1e-9) - i for i, t in enumerate(times)), default=0)


def run_probe(approach: str, out: Path, n: int = 50) -> None:
    """Median and p95 of one acquisition when the budget is far from spent: the limiter's own cost."""
    if approach.startswith("database"):
        limiter: CallLimiter = DatabaseRateLimiter(connect(SyncSettings()), ((10_000, 1.0),))
        key: Hashable = (UNCONTENDED, CALLED)
    else:
        limiter, key = PrefectRateLimit(), (UNCONTENDED,)
    spent = []
    for _ in range(n):
        started = time.perf_counter()
        limiter.acquire(key)
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    out.write_text(json.dumps([statistics.median(spent), spent[int(0.95 * (n - 1))]]))


def measure(approach: str, root: Path, postgres, args: argparse.Namespace) -> dict:
    """One approach end to end on fresh servers; returns its figures."""
    home = root / approach
    env = prefect_env(home / "prefect", "")
    database_url = None
    if approach.endswith("postgresql"):
        postgres.execute(f"CREATE DATABASE {approach.replace('-', '_')}")
        database_url = postgres.url(approach.replace("-", "_"))
    if approach.startswith("prefect") and database_url is not None:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = str(database_url.set(drivername="postgresql+asyncpg"))
    world = generate_world(seed=3, days=10, orders_per_day=12)
    with serve_in_thread(create_app(world)) as jst, Processes(env, home / "logs") as processes:
        if approach.startswith("prefect"):
            port = free_port()
            env["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
            start_prefect_server(processes, port, schedules=False, timeout=600)  # a loaded machine needs >120 s
            env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)  # the server's own; the hosts are clients
        state_env = {"SYNC_DATABASE_URL": str(database_url)} if approach.startswith("database") else {}
        settings = JushuitanSettings(base_url=jst.url)
        token_file = home / "token.json"
        with JushuitanClient(settings, token_store=FileTokenStore(token_file)) as client:
            list(client.warehouses())  # the app's one token, which every host then loads
        key = (FileTokenStore(token_file).load().fingerprint, CALLED)
        if approach.startswith("prefect"):
            create_prefect_limits(processes, key)
        probe = [BIN / "python", "-m", "bench.budget", "--probe", approach, "--out", str(home / "probe.json")]
        if processes.start("probe", probe, state_env).wait(timeout=300) != 0:
            raise RuntimeError(f"the probe failed:\n{processes.log_tail('probe')}")
        uncontended = tuple(json.loads((home / "probe.json").read_text()))
        hosts = []
        for host in range(args.hosts):
            state = home / f"host-{host}"
            state.mkdir(parents=True)
            (state / "token.json").write_bytes(token_file.read_bytes())
            host_env = {
                **state_env,
                "JST_BASE_URL": jst.url,
                "JST_TOKEN_STORE_PATH": str(state / "token.json"),
                "SYNC_STATE_DIR": str(state),
            }
            command = [BIN / "python", "-m", "bench.budget", "--host", approach, "--seconds", str(args.seconds)]
            command += ["--threads", str(args.threads), "--out", str(state / "host.json")]
            hosts.append((state, processes.start(f"host-{host}", command, host_env)))
        for host, (_state, process) in enumerate(hosts):
            if process.wait(timeout=args.seconds + 300) != 0:
                raise RuntimeError(f"host {host} failed:\n{processes.log_tail(f'host-{host}')}")
        stats = httpx.get(f"{jst.url}/__admin/stats", trust_env=False).json()
    results = [json.loads((state / "host.json").read_text()) for state, _ in hosts]
    return figures(approach, key, stats, results, uncontended)


def create_prefect_limits(processes: Processes, key: Hashable) -> None:
    """The limit per token and API the hosts take turns on, and a wide one for the uncontended probe."""
    for name, limit, decay in (
        (prefect_limit_name(key), BUCKET_LIMIT, BUCKET_DECAY),
        (prefect_limit_name((UNCONTENDED,)), 10_000, 100),
    ):
        create = ["global-concurrency-limit", "create", name, "--limit", str(limit), "--slot-decay-per-second"]
        processes.run([BIN / "prefect", *create, str(decay)])


def figures(approach: str, key: Hashable, stats: dict, results: list[dict], uncontended: tuple[float, float]) -> dict:
    taken = sorted(t for result in results for t in result["taken"])
    acquire = sorted(s * 1000 for result in results for s in result["acquire_seconds"])
    elapsed = taken[-1] - taken[0] if len(taken) > 1 else 0.0
    (peak,) = [p for p in stats["peaks"] if p["path"] == CALLED]
    refused = stats["rejected"].get(CALLED, {})
    return {
        "approach": approach,
        "calls": len(taken),
        "calls_per_second": (len(taken) - 1) / elapsed if elapsed else 0.0,
        "busiest_second": busiest(taken, 1.0),
        "busiest_minute": busiest(taken, 60.0),
        "peak_second": peak["max_calls_per_second"],
        "peak_minute": peak["max_calls_per_minute"],
        "refused_199": refused.get("199", 0),
        "refused_200": refused.get("200", 0),
        "uncontended_ms": uncontended,
        "acquire_ms": (statistics.median(acquire), acquire[int(0.95 * (len(acquire) - 1))]),
        "failures": [f for result in results for f in result["failures"]][:3],
        "key": key,
    }


def show(f: dict) -> None:
    print(
        f"{f['approach']:>20}: {f['calls']} calls, {f['calls_per_second']:.2f}/s = "
        f"{f['calls_per_second'] * 60:.1f}/min over the run (quota {PER_SECOND}/s, {PER_MINUTE}/min); busiest 1 s "
        f"{f['busiest_second']}, busiest 60 s {f['busiest_minute']}\n"
        f"{'':>22}emulator peak_second {f['peak_second']}, peak_minute {f['peak_minute']}, "
        f"refusals 199: {f['refused_199']}, 200: {f['refused_200']}\n"
        f"{'':>22}acquire uncontended median {f['uncontended_ms'][0]:.1f} ms, p95 {f['uncontended_ms'][1]:.1f} ms; "
        f"under load median {f['acquire_ms'][0]:.0f} ms, p95 {f['acquire_ms'][1]:.0f} ms (waits included)"
        + (f"\n{'':>22}failures: {f['failures']}" if f["failures"] else "")
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=70.0)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--approaches", nargs="+", choices=APPROACHES, default=list(APPROACHES))
    parser.add_argument("--host", choices=APPROACHES, help=argparse.SUPPRESS)  # a child: one "host"
    parser.add_argument("--probe", choices=APPROACHES, help=argparse.SUPPRESS)  # a child: the uncontended cost
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.host:
        run_host(args.host, args.seconds, args.threads, args.out)
        return 0
    if args.probe:
        run_probe(args.probe, args.out)
        return 0
    print(f"{args.hosts} hosts x {args.threads} threads, {args.seconds:.0f} s each, one token, {CALLED}")
    measured = []
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as folder, serving_postgres() as postgres:
        for approach in args.approaches:
            measured.append(measure(approach, Path(folder), postgres, args))
            show(measured[-1])
    within = {f["approach"]: f["peak_second"] <= PER_SECOND and f["peak_minute"] <= PER_MINUTE for f in measured}
    print(
        "RESULT budget "
        + " ".join(
            f"{f['approach']}={f['calls_per_second'] * 60:.0f}/min,peak={f['peak_second']}/s+{f['peak_minute']}/min,"
            f"refused={f['refused_199'] + f['refused_200']},acquire={f['uncontended_ms'][0]:.1f}ms"
            f"{'' if within[f['approach']] else ',OVER'}"
            for f in measured
        )
    )
    return 0 if all(within.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
