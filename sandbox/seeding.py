"""What seeding a Flex-like account makes: the SIDs it answers (`FlexSetup`), a customer's chat
(`Chat`) and its task's attributes, a Flex worker's attributes, and the workflows of the Flex project template
(twilio-professional-services/flex-project-template: "Assign to Anyone" and "Chat Transfer")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class FlexSetup:
    """The SIDs of a seeded Flex workspace (see `Sandbox.seed_flex`)."""

    workspace_sid: str
    assign_to_anyone_workflow_sid: str
    chat_transfer_workflow_sid: str
    chat_service_sid: str
    queues: dict[str, str] = field(default_factory=dict)  # friendly name -> WQ
    workers: dict[str, str] = field(default_factory=dict)  # name -> WK
    identities: dict[str, str] = field(default_factory=dict)  # name -> chat identity
    tokens: dict[str, str] = field(default_factory=dict)  # name -> Flex token
    activities: dict[str, str] = field(default_factory=dict)  # friendly name -> WA
    channels: dict[str, str] = field(default_factory=dict)  # unique name -> TC


@dataclass
class Chat:
    """A customer chat started with `Sandbox.start_chat`."""

    conversation_sid: str
    task_sid: str
    customer: str
    customer_participant_sid: str
    workspace_sid: str
    interaction_sid: str | None = None
    interaction_channel_sid: str | None = None


def web_chat_task_attributes(customer: str, conversation_sid: str, channel_type: str = "web") -> dict:
    """What a customer's chat task carries, as Studio's Send to Flex makes it."""
    return {
        "name": customer,
        "from": customer,
        "channelType": channel_type,
        "conversationSid": conversation_sid,
        "customerName": customer,
        "initiatedBy": "customer",
        "direction": "inbound",
        "customers": {"name": customer},
    }


def flex_worker_attributes(
    name: str,
    full_name: str | None,
    public_identity: str | None,
    skills: Iterable[str],
    roles: Iterable[str],
    attributes: dict | None,
) -> dict:
    """A Flex worker's attributes: contact_uri client:<name>, roles, routing skills."""
    attrs = {
        "contact_uri": f"client:{name}",
        "full_name": full_name if full_name is not None else name.title(),
        "email": f"{name}@example.com",
        "image_url": "",
        "roles": list(roles),
        "routing": {"skills": list(skills), "levels": {}},
    }
    if public_identity is not None:
        attrs["public_identity"] = public_identity
    attrs.update(attributes or {})
    return attrs


def flex_template_workflows(qs: dict[str, str], transfer_target_timeout: int | None) -> tuple[dict, dict]:
    """The Configuration of "Assign to Anyone" (everyone's queue) and of "Chat Transfer" (a
    known-worker rule on task.transferTargetSid, one rule per queue on transferQueueName
    excluding the transferring agent), for queues `qs` (name -> WQ, "Everyone" among them)."""
    anyone = {
        "task_routing": {
            "filters": [
                {
                    "filter_friendly_name": "Everyone",
                    "expression": "1==1",
                    "targets": [{"queue": qs["Everyone"]}],
                }
            ],
            "default_filter": {"queue": qs["Everyone"]},
        }
    }
    known = {"queue": qs["Everyone"], "known_worker_sid": "task.transferTargetSid"}
    if transfer_target_timeout is not None:
        known["timeout"] = transfer_target_timeout
    filters = [
        {
            "filter_friendly_name": "Assign to Worker",
            "expression": "transferTargetType == 'worker'",
            "targets": [known],
        }
    ]
    for qname, qsid in qs.items():
        target = {"queue": qsid, "expression": "worker.contact_uri != task.ignoreWorkerContactUri"}
        if transfer_target_timeout is not None:
            target["timeout"] = transfer_target_timeout
        filters.append(
            {
                "filter_friendly_name": f"Assign To Queue - {qname}",
                "expression": f"transferQueueName == '{qname}'",
                "targets": [target],
            }
        )
    transfer = {"task_routing": {"filters": filters, "default_filter": {"queue": qs["Everyone"]}}}
    return anyone, transfer
