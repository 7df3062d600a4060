"""Alerts as Prefect automations, sent through a notification block the operator creates first (Slack,
email, or a custom webhook for WeCom / DingTalk): a run that failed, crashed or timed out, and a run that
held more documents than SYNC_HELD_ALERT_THRESHOLD (the event reporting.reports emits).

Failed runs are matched by flow name rather than deployment tag: runs started from the CLI and the
child runs of sync-all carry no deployment tags, and an analyst should hear of those too.
"""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from reporting.reports import HELD_ALERT_EVENT

FLOW_NAMES = [
    "sync-all",
    "sync-materials",
    "sync-outbound",
    "sync-returns",
    "sync-sweep",
    "reconcile",
    "check-mappings",
]
RUN_FAILED = "jst-kingdee-run-failed"
HELD_OVER_THRESHOLD = "jst-kingdee-held-over-threshold"


def automations(block_document_id: UUID) -> list[AutomationCore]:
    notify = {"block_document_id": block_document_id}
    return [
        AutomationCore(
            name=RUN_FAILED,
            description="A sync, reconcile or check-mappings run failed, crashed or timed out.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"},
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={"prefect.resource.role": "flow", "prefect.resource.name": FLOW_NAMES},
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[
                SendNotification(
                    **notify,
                    subject="jst-kingdee: {{ flow.name }} / {{ flow_run.name }} is {{ flow_run.state.name }}",
                    body="{{ flow_run.state.message }}\n{{ flow_run|ui_url }}",
                )
            ],
        ),
        AutomationCore(
            name=HELD_OVER_THRESHOLD,
            description="A sync held more documents than SYNC_HELD_ALERT_THRESHOLD (see its report).",
            trigger=EventTrigger(
                expect={HELD_ALERT_EVENT},
                match={"prefect.resource.id": "jst-kingdee.sync.*"},
                posture=Posture.Reactive,
                threshold=1,
            ),
            actions=[
                SendNotification(
                    **notify,
                    subject="jst-kingdee: {{ event.resource.name }} held {{ event.payload.held }} documents",
                    body=(
                        "{{ event.payload.held }} documents held (threshold {{ event.payload.threshold }}); "
                        "reasons and fixes in report folder {{ event.payload.report }}.\n{{ flow_run|ui_url }}"
                    ),
                )
            ],
        ),
    ]


def register_alerts(notification_block: str) -> dict[str, UUID]:
    """Create (or replace, by name) both automations; `notification_block` is `<block-type-slug>/<name>`."""
    block_type, _, name = notification_block.partition("/")
    if not name:
        raise ValueError(f"notification block {notification_block!r}: expected <block-type-slug>/<name>")
    with get_client(sync_client=True) as client:
        block = client.read_block_document_by_name(name, block_type, include_secrets=False)
        created = {}
        for automation in automations(block.id):
            for existing in client.read_automations_by_name(automation.name):
                client.delete_automation(existing.id)
            created[automation.name] = client.create_automation(automation)
    return created
