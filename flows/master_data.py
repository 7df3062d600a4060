"""The Kingdee base data the syncs read: the master data outbound and returns are checked against (with the
hand-kept tables), and the materials the materials sync pushes to Jushuitan. Both read BD_MATERIAL of one
use org; what is in scope is the scheme's (SCHEME.md §3), the query language Kingdee's."""

from __future__ import annotations

import polars as pl
from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from connectors.kingdee import Filter, KingdeeClient
from connectors.kingdee.filters import USABLE
from state.settings import SyncSettings
from state.tables import TableError, hand_kept_tables
from state.watermarks import RunWindow
from transforms.documents import NUMBER_FIELDS, MasterData
from transforms.materials import MASTER_FIELDS, material_master, material_schema

MATERIAL = "BD_MATERIAL"
USE_ORG = "FUseOrgId.FNumber"


def in_org(settings: SyncSettings) -> Filter:
    """Base data of the org the syncs book for: BD_MATERIAL has one row per use org."""
    return Filter.eq(USE_ORG, settings.org)


def _unless_a_table_error(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry Kingdee's transport errors; a wrong hand-kept table waits for a person, not for 35 s of retries."""
    try:
        state.result()
    except TableError:
        return False
    except Exception:
        return True
    return True


@task(
    name="load-master-data",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=_unless_a_table_error,
)
def load_master_data(kingdee: KingdeeClient, settings: SyncSettings) -> MasterData:
    """The hand-kept tables as the state database holds them; materials, customers and stocks as Kingdee has
    them now."""
    materials = kingdee.execute_bill_query(
        MATERIAL, list(MASTER_FIELDS), USABLE & in_org(settings), order_by="FNumber ASC", schema=MASTER_FIELDS
    )
    customers, stocks = (
        kingdee.execute_bill_query(form_id, list(NUMBER_FIELDS), USABLE, order_by="FNumber ASC", schema=NUMBER_FIELDS)
        for form_id in ("BD_Customer", "BD_STOCK")
    )
    shops, warehouses = hand_kept_tables(settings)
    return MasterData(
        shops=shops,
        warehouses=warehouses,
        materials=material_master(materials),
        customers=customers.select(pl.col("FNumber").alias("number")),
        stocks=stocks.select(pl.col("FNumber").alias("number")),
    )


@task(name="fetch-materials", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def fetch_materials(
    kingdee: KingdeeClient, window: RunWindow | None, numbers: list[str], settings: SyncSettings
) -> pl.DataFrame:
    """Audited, enabled, sold-online materials of the org modified in the window, plus `numbers`
    (held ones retried, or a replay) whatever their modify date or state: map_materials tells which of
    those are out of scope and why, and a number missing here is one Kingdee does not know."""
    scheme = settings.scheme()
    schema = material_schema(scheme)
    keys, org = list(schema), in_org(settings)
    frames = [
        kingdee.execute_bill_query_by_number(MATERIAL, keys, numbers, number_key="FNumber", within=org, schema=schema)
    ]
    if window:
        wanted = USABLE & Filter.eq(scheme.sell_online_field, True) & org
        modified = wanted & Filter.between("FModifyDate", window.start, window.end)
        frames.append(kingdee.execute_bill_query(MATERIAL, keys, modified, order_by="FNumber ASC", schema=schema))
    return pl.concat(frames).unique("FNumber", keep="first", maintain_order=True)
