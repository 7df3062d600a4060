"""A streamed run reports its progress per page group: a Prefect progress artifact and a run-log line."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

from flows.outbound import sync_outbound

GROUP_LINE = re.compile(
    r"SAL_OUTSTOCK group (\d+): (\d+) pages, (\d+) documents, (\d+) bills saved, (\d+) held, [\d.]+ docs/s"
)


async def _progress_artifacts(flow_run_id) -> list:
    async with get_client() as client:
        return await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                key=ArtifactFilterKey(any_=["sal-outstock-progress"]),
            )
        )


def test_progress_artifact_and_log_lines_per_group(sandbox, monkeypatch, caplog):
    monkeypatch.setenv("SYNC_PAGES_PER_GROUP", "1")
    monkeypatch.setenv("SYNC_MAX_PAGES_PER_GROUP", "1")
    caplog.set_level(logging.INFO)
    window = {"since": sandbox.world.start - timedelta(days=1), "until": datetime.now(sandbox.world.end.tzinfo)}
    state = sync_outbound(**window, return_state=True)
    summary = state.result()

    artifacts = asyncio.run(_progress_artifacts(state.state_details.flow_run_id))
    assert len(artifacts) == 1  # one artifact, updated in place
    assert artifacts[0].type == "progress" and artifacts[0].data == 100.0
    assert f"{summary['written']} bills saved, {summary['held']} held" in artifacts[0].description

    lines = [GROUP_LINE.search(r.getMessage()) for r in caplog.records]
    groups = [tuple(int(n) for n in line.groups()) for line in lines if line]
    assert len(groups) > 1, "one line per group"
    assert [g[0] for g in groups] == list(range(1, len(groups) + 1))
    assert all(g[1] == g[0] for g in groups)  # one page a group
    for column in (2, 3, 4):  # documents, bills saved, held never go back
        assert [g[column] for g in groups] == sorted(g[column] for g in groups)
    out_of_scope = sum(summary["notes"].values())  # documents read but not booked, by status
    assert groups[-1][2] == summary["fetched"] + out_of_scope
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("SAL_OUTSTOCK done:")]
    assert len(done) == 1 and f"{summary['written']} bills saved" in done[0]
