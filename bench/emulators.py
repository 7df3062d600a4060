"""Each emulator in a process of its own, for benchmarks that measure the sync process alone.

In the sync's process the emulators would count in its memory (over 1 GiB of Python dicts for a million
lines) and take its GIL; in one shared process, Kingdee validating a batch of bills (tens of ms without
an await) would hold up Jushuitan's page answers, which two real systems never do to each other.
`python -m bench.emulators jushuitan|kingdee ...` prints one JSON line once it listens and serves until
its stdin closes; `Emulators` starts both and reads those lines.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

import httpx

from bench.world import bulk_world, template_world
from sandbox.faults import Faults
from sandbox.server import serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
JST_DOCUMENT_PATHS = ["/open/orders/out/simple/query"]


@dataclass(frozen=True)
class Served:
    """Where the emulators listen and the world the Jushuitan one serves."""

    jst_url: str
    kingdee_url: str  # the admin endpoints live here, the WebAPI under /k3cloud
    start: datetime
    end: datetime
    documents: int
    lines: int
    world_seconds: float

    def stats(self) -> tuple[dict, dict]:
        """The emulators' own counts of what clients did (/__admin/stats on each)."""
        return httpx.get(f"{self.jst_url}/__admin/stats").json(), httpx.get(f"{self.kingdee_url}/__admin/stats").json()


class Emulators:
    """Both emulator processes as a context manager: started on enter, stopped on exit."""

    def __init__(
        self,
        documents: int,
        *,
        lines_per_document: int = 4,
        jst_latency_ms: float = 0,
        calls_per_second: int = 1000,
        calls_per_minute: int = 60_000,
        save_latency_ms: float = 0,
        save_latency_per_bill_ms: float = 0,
    ) -> None:
        self.commands = {
            "jushuitan": [
                f"--documents={documents}",
                f"--lines-per-document={lines_per_document}",
                f"--latency-ms={jst_latency_ms}",
                f"--calls-per-second={calls_per_second}",
                f"--calls-per-minute={calls_per_minute}",
            ],
            "kingdee": [
                f"--save-latency-ms={save_latency_ms}",
                f"--save-latency-per-bill-ms={save_latency_per_bill_ms}",
            ],
        }
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> Served:
        answers = {}
        for system, args in self.commands.items():
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.emulators", system, *args],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self._processes.append(process)
        for system, process in zip(self.commands, self._processes, strict=True):
            line = process.stdout.readline()
            if not line:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the {system} emulator process exited with {process.wait()}")
            answers[system] = json.loads(line)
        world = answers["jushuitan"]
        return Served(
            jst_url=world["url"],
            kingdee_url=answers["kingdee"]["url"],
            start=datetime.fromisoformat(world["start"]),
            end=datetime.fromisoformat(world["end"]),
            documents=world["documents"],
            lines=world["lines"],
            world_seconds=world["world_seconds"],
        )

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for process in self._processes:
            process.stdin.close()  # the child's cue to stop
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()


def _serve(app, answer: dict) -> None:
    with serve_in_thread(app) as server:
        print(json.dumps({"url": server.url, **answer}), flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or dies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    systems = parser.add_subparsers(dest="system", required=True)
    jst = systems.add_parser("jushuitan")
    jst.add_argument("--documents", type=int, required=True)
    jst.add_argument("--lines-per-document", type=int, default=4)
    jst.add_argument("--latency-ms", type=float, default=0)
    jst.add_argument("--calls-per-second", type=int, default=1000)
    jst.add_argument("--calls-per-minute", type=int, default=60_000)
    kingdee = systems.add_parser("kingdee")
    kingdee.add_argument("--save-latency-ms", type=float, default=0)
    kingdee.add_argument("--save-latency-per-bill-ms", type=float, default=0)
    args = parser.parse_args()

    if args.system == "kingdee":
        from sandbox.kingdee import create_app

        app = create_app(
            template_world().kingdee,
            save_latency_ms=args.save_latency_ms,
            save_latency_per_bill_ms=args.save_latency_per_bill_ms,
        )
        _serve(app, {})
        return

    from sandbox.jushuitan import create_app

    started = time.perf_counter()
    world = bulk_world(args.documents, args.lines_per_document)
    answer = {
        "start": world.start.isoformat(),
        "end": world.end.isoformat(),
        "documents": len(world.outbound),
        "lines": sum(len(doc["items"]) for doc in world.outbound),
        "world_seconds": round(time.perf_counter() - started, 2),
    }
    # Latency on the document queries only: the one token call is not what is measured.
    faults = Faults(latency_ms=args.latency_ms, path_prefixes=JST_DOCUMENT_PATHS)
    _serve(
        create_app(
            world, faults=faults, calls_per_second=args.calls_per_second, calls_per_minute=args.calls_per_minute
        ),
        answer,
    )


if __name__ == "__main__":
    main()
