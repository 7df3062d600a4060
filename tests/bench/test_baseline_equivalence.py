"""The transform benchmark's identical-output check is real: the project's Polars path and the
per-record baseline agree on a small generated set with dirty data, and the comparison reports a
difference as soon as one mapping rule differs."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import polars as pl
import pytest

from bench import baseline
from bench.generate import BenchData, decode, generate
from bench.transform import SyncRun, Timings, batch_bodies, differences, project_outbound, project_returns, run_sync
from connectors.kingdee import KingdeeClient
from connectors.settings import KingdeeSettings
from transforms.mappings import SchemeConfig

CONFIG = SchemeConfig()


@pytest.fixture(scope="module")
def data() -> BenchData:
    # 400 documents of each kind, a third of them dirty: every planted kind occurs several times.
    return generate(400, seed=11, dirty_rate=0.35)


def outbound_pair(data: BenchData, config: SchemeConfig = CONFIG) -> tuple[baseline.Output, baseline.Output]:
    return (
        project_outbound(data.outbound_pages, data, CONFIG, Timings()),
        baseline.outbound(decode(data.outbound_pages), data.master, config),
    )


def returns_pair(data: BenchData) -> tuple[baseline.Output, baseline.Output]:
    receipts = [record for page in decode(data.received_pages) for record in page]
    return (
        project_returns(data.refund_pages, data.received_pages, data, CONFIG, Timings()),
        baseline.returns(decode(data.refund_pages), receipts, data.master, CONFIG),
    )


def rules(output: baseline.Output) -> set[str]:
    return {rule for _, _, rule in output.held}


def test_generated_set_plants_every_dirty_kind(data: BenchData) -> None:
    assert len(data.planted) >= 30 and min(data.planted.values()) >= 2


def test_outbound_bodies_and_held_lines_are_identical(data: BenchData) -> None:
    ours, theirs = outbound_pair(data)
    assert differences(ours, theirs) == []
    assert len(ours.bodies) >= 2  # more than one BatchSave body: batching is compared too
    assert {"shop.unmapped", "customer.unknown", "stock.unknown", "qty.invalid", "qty.not_positive"} <= rules(ours)
    assert {"price.invalid", "price.negative", "value.out_of_range", "line.duplicate", "date.missing"} <= rules(ours)
    assert {"doc.no_lines", "material.unknown", "sku.missing", "doc.held_with_line"} <= rules(ours)


def test_returns_bodies_held_and_warned_lines_are_identical(data: BenchData) -> None:
    ours, theirs = returns_pair(data)
    assert differences(ours, theirs) == []
    assert {"qty.requested_invalid", "lot.contradicts_batch", "date.missing", "qty.invalid"} <= rules(ours)
    assert {rule for _, _, rule in ours.warnings} == {"lot.no_letter"}
    lots = {
        json.dumps(line["FLot"])
        for body in ours.bodies
        for bill in json.loads(body)["data"]["Model"]
        for line in bill["FEntity"]
    }
    assert lots == {'{"FNumber": "0"}', "null"}


def test_a_different_note_prefix_in_the_baseline_is_reported(data: BenchData) -> None:
    ours, theirs = outbound_pair(data, replace(CONFIG, note_prefix="JST"))
    found = differences(ours, theirs)
    assert found and found[0].startswith("bill ")


def test_a_different_lot_rule_in_the_baseline_is_reported(data: BenchData, monkeypatch: pytest.MonkeyPatch) -> None:
    # G winning over A (the scheme says A wins) changes the lot of every AG-style line.
    monkeypatch.setattr(baseline, "return_lot", lambda i_id: "0" if "A" in (i_id or "") and "G" not in i_id else "")
    ours, theirs = returns_pair(data)
    found = differences(ours, theirs)
    assert any(line.startswith("bill ") for line in found)
    assert any("lot.contradicts_batch" in line for line in found)


def test_a_rule_missing_from_the_baseline_is_reported(data: BenchData, monkeypatch: pytest.MonkeyPatch) -> None:
    lenient = baseline.line_failures
    monkeypatch.setattr(
        baseline, "line_failures", lambda *args: [rule for rule in lenient(*args) if rule != "price.negative"]
    )
    ours, theirs = outbound_pair(data)
    found = differences(ours, theirs)
    assert any(line.startswith("held only by the project") and "price.negative" in line for line in found)
    assert any("bills against" in line for line in found)  # the baseline lets those documents through


def test_batch_bodies_are_exactly_what_the_kingdee_client_sends() -> None:
    note = '聚水潭"引号"\\'  # non-ASCII, quotes and a backslash travel as they are
    models = [json.dumps({"FBillNo": f"B{n}", "FNote": note, "FEntity": [{"FRealQty": 1.0}]}) for n in range(250)]
    bills = pl.DataFrame({"bill_no": [f"B{n}" for n in range(250)], "model": models})
    sent: list[bytes] = []

    def kingdee(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        count = len(json.loads(request.content)["data"]["Model"])
        successes = [{"Id": n, "Number": f"B{n}", "DIndex": n} for n in range(count)]
        status = {"IsSuccess": True, "ErrorCode": 0, "MsgCode": 0, "Errors": [], "SuccessEntitys": successes}
        return httpx.Response(200, json={"Result": {"ResponseStatus": status}})

    settings = KingdeeSettings(server_url="http://127.0.0.1:9/k3cloud", auth_mode="signature", batch_size=100)
    with KingdeeClient(settings, transport=httpx.MockTransport(kingdee)) as client:
        results = client.batch_save("SAL_OUTSTOCK", [model.encode() for model in models])
    assert all(result.ok for result in results)
    assert [result.bill_no for result in results] == bills["bill_no"].to_list()
    assert list(batch_bodies("SAL_OUTSTOCK", bills)) == sent
    assert len(sent) == 3


def sync_run(data: BenchData, config: SchemeConfig = CONFIG) -> SyncRun:
    """The benchmark's outbound run, over groups of 3 pages: the digest check, then bill by bill."""
    return run_sync(
        "outbound",
        data.outbound_lines,
        data.outbound_pages,
        3,
        lambda pages, clock, sent: project_outbound(pages, data, CONFIG, clock, sent),
        lambda pages: baseline.outbound(pages, data.master, config),
    )


def test_the_benchmark_run_compares_every_group(data: BenchData) -> None:
    run = sync_run(data)
    assert run.groups == 3 and run.identical_bytes
    assert run.bills == sum(len(json.loads(body)["data"]["Model"]) for body in outbound_pair(data)[0].bodies)


def test_the_benchmark_run_stops_when_a_rule_differs(data: BenchData, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        sync_run(data, replace(CONFIG, note_prefix="JST"))
    assert stopped.value.code == 1
    assert "outbound: the project and the baseline disagree" in capsys.readouterr().err
