"""`Flex`: the Interactions API (interactions, their channels, invites and participants) over
TaskRouter and Conversations, with the token check (`Tokens`) and the chat orchestration
(`Orchestration`, a subscriber to TaskRouter's `ReservationAccepted`)."""

from __future__ import annotations

import json
from typing import Any

from ..conversations import Conversations, Origin
from ..core import Core, parse_json_param
from ..errors import TwilioError, bad_request, not_found
from ..taskrouter import Task, TaskChangeRequested, TaskRouter
from .model import (
    Interaction,
    InteractionChannel,
    InteractionParticipant,
    Invite,
    OrchestrationFlags,
    channel_made_for,
)
from .orchestration import Orchestration, leave_conversation
from .tokens import Token, Tokens

CHANNEL_CLOSED = "Interaction channel closed"


class Flex(Tokens):
    def __init__(self, core: Core, taskrouter: TaskRouter, conversations: Conversations) -> None:
        self.core = core
        self.taskrouter = taskrouter
        self.conversations = conversations
        self.interactions: dict[str, Interaction] = {}
        self.channels: dict[str, InteractionChannel] = {}
        self.tokens: dict[str, Token] = {}
        self.orchestration = Orchestration(core, conversations, self.channels)
        self.flex_instance_sid = core.sid("GO")
        # interaction tasks changed through TaskRouter's REST API (see _on_task_change_requested)
        self.misuses: list[dict] = []
        core.register(self)
        core.subscribe(TaskChangeRequested, self._on_task_change_requested)

    @property
    def flags(self) -> OrchestrationFlags:
        """What the orchestration does (switch steps off to drive them by hand)."""
        return self.orchestration.flags

    # --------------------------------------------------------- interactions
    def channel(self, interaction_sid: str, channel_sid: str) -> InteractionChannel:
        ch = self.channels.get(channel_sid)
        if ch is None or ch.interaction_sid != interaction_sid:
            raise not_found(
                f"The requested resource /Interactions/{interaction_sid}/Channels/{channel_sid} was not found"
            )
        return ch

    def create_interaction(self, channel: dict, routing: dict | None, context_sid=None, webhook_ttid=None):
        if not isinstance(channel, dict) or "type" not in channel:
            raise bad_request("Channel must be a JSON object with a type")
        props = (channel.get("properties") or {}) if isinstance(channel.get("properties"), dict) else {}
        cv = self.conversations
        conv_sid = props.get("media_channel_sid")
        if conv_sid:
            conv = cv.get(conv_sid)
        else:
            conv = cv.create(friendly_name=f"{channel['type']} interaction", origin=Origin(fire=True))
            for part in channel.get("participants") or []:
                if isinstance(part, dict):
                    cv.add_participant(
                        conv,
                        identity=part.get("identity"),
                        address=part.get("address"),
                        proxy_address=part.get("proxy_address"),
                        origin=Origin(fire=True),
                    )
        kd = self.core.sid("KD")
        ch = InteractionChannel(self.core.sid("UO"), kd, channel["type"], "active", conv.sid)
        customer = InteractionParticipant(self.core.sid("UT"), "customer", None)
        ch.participants[customer.sid] = customer
        self.channels[ch.sid] = ch
        inter = Interaction(
            kd, {"type": channel["type"], "sid": ch.sid}, {}, ch.sid, context_sid, webhook_ttid
        )
        self.interactions[kd] = inter
        if routing:
            if isinstance(routing, dict) and isinstance(routing.get("properties"), dict):
                ch.routing = dict(routing["properties"])
            initiated_by = channel.get("initiated_by", "customer")
            task = self._routed_task(ch, routing, extra={"initiatedBy": initiated_by, "direction": "inbound"})
            inter.routing = {"reservation": None, "properties": self._task_properties(task)}
        return inter

    def _routed_task(self, ch: InteractionChannel, routing: Any, extra: dict | None = None) -> Task:
        if not isinstance(routing, dict) or not isinstance(routing.get("properties"), dict):
            raise bad_request("Routing must be a JSON object with a properties object")
        props = routing["properties"]
        tr = self.taskrouter
        ws = tr.ws(props.get("workspace_sid") or "")
        attrs = props.get("attributes") or {}
        if isinstance(attrs, str):
            attrs = parse_json_param(attrs, "Routing.properties.attributes", {})
        attrs = dict(attrs)
        attrs.update(extra or {})
        attrs.setdefault("channelType", ch.type)
        attrs.update(
            {
                "flexInteractionSid": ch.interaction_sid,
                "flexInteractionChannelSid": ch.sid,
                "conversationSid": ch.conversation_sid,
            }
        )
        convs = dict(attrs.get("conversations") or {})
        convs.setdefault("conversation_id", ch.interaction_sid)
        convs.setdefault("media", [{"type": "ChatTranscript", "sid": ch.conversation_sid}])
        attrs["conversations"] = convs
        target = props.get("worker_sid") or props.get("queue_sid")
        task = tr.create_task(
            ws,
            workflow_sid=None if target else props.get("workflow_sid"),
            attributes=json.dumps(attrs),
            priority=props.get("priority"),
            timeout=props.get("timeout"),
            task_channel=props.get("task_channel_unique_name") or props.get("task_channel_sid") or "default",
            routing_target=target,
        )
        ch.task_sids.append(task.sid)
        return task

    def _task_properties(self, task: Task) -> dict:
        tr = self.taskrouter
        ws = tr.ws(task.workspace_sid)
        ch = ws.channels.get(task.task_channel_sid)
        wf = ws.workflows.get(task.workflow_sid or "")
        q = ws.queues.get(task.task_queue_sid or "")
        now = self.core.now()
        return {
            "account_sid": self.core.account_sid,
            "workspace_sid": ws.sid,
            "sid": task.sid,
            "date_created": int(task.date_created),
            "date_updated": int(task.date_updated),
            "attributes": task.attributes,
            "assignment_status": task.assignment_status,
            "workflow_sid": task.workflow_sid,
            "workflow_name": wf.friendly_name if wf else None,
            "queue_sid": task.task_queue_sid,
            "queue_name": q.friendly_name if q else None,
            "priority": task.priority,
            "age": int(now - task.date_created),
            "reason": task.reason or "",
            "timeout": task.timeout,
            "assignmentCounter": len(task.reservation_sids),
            "task_channel_sid": task.task_channel_sid,
            "task_channel_unique_name": ch.unique_name if ch else None,
            "routing_target": task.routing_target,
            "task_queue_entered_date": int(task.task_queue_entered_date or now),
            "age_in_queue": int(now - (task.task_queue_entered_date or now)),
            "addons": "{}",
        }

    def invite(self, ch: InteractionChannel, routing: Any) -> Invite:
        """A new routed task on the channel; an inactive or paused channel becomes active again
        (the custom routing a Leave may use: "Leave and pause options for Conversations")."""
        if ch.status in ("closed", "failed"):
            raise bad_request(f"Interaction Channel {ch.sid} is {ch.status}")
        kg = self.core.sid("KG")
        task = self._routed_task(ch, routing, extra={"flexChannelInviteSid": kg})
        inv = Invite(kg, {"reservation": None, "properties": self._task_properties(task)})
        ch.invites.append(inv)
        ch.status, ch.paused = "active", None
        return inv

    def resume_channel(self, ch: InteractionChannel, *, to_queue: bool = False) -> str:
        """A chat left open on purpose comes back: a parked one through the template's unpark
        invite (the parked workflow and attributes, plus ``originalRouting``); a paused one with a
        new task for the agent who paused it (`to_queue`: through the original workflow); an
        inactive (Left) one with a new task through the interaction's original routing. The
        channel is active again; returns the new task's SID."""
        props = dict(ch.routing)
        if ch.parked is not None:
            parked = ch.parked
            attrs = json.loads(parked.get("taskAttributes") or "{}")
            attrs["originalRouting"] = {
                "queueSid": parked.get("queueSid"),
                "workerSid": parked.get("workerSid"),
            }
            routing = {
                "properties": {
                    "workspace_sid": props.get("workspace_sid"),
                    "workflow_sid": parked.get("workflowSid"),
                    "task_channel_unique_name": parked.get("taskChannelUniqueName"),
                    "attributes": attrs,
                }
            }
            ch.parked = None
            return self.invite(ch, routing).routing["properties"]["sid"]
        if ch.paused is not None and not to_queue:
            props["worker_sid"] = ch.paused.worker_sid
        task = self._routed_task(ch, {"properties": props})
        ch.status, ch.paused = "active", None
        return task.sid

    def update_channel(self, ch: InteractionChannel, status: str, routing: Any) -> None:
        """`POST .../Channels/{UO}`: ``closed`` cancels the channel's tasks not yet assigned,
        moves assigned ones to wrapping (``Routing={"status":"closed"}``: completes assigned and
        wrapping ones) and closes the conversation; ``inactive`` (Routing status closed
        required) completes the tasks, takes the agents out of the conversation and leaves it
        open (state inactive)."""
        routing_status = routing.get("status") if isinstance(routing, dict) else None
        if status == "inactive" and routing_status != "closed":
            raise bad_request("Routing status closed is required when the channel status is inactive")
        self.end_channel_tasks(ch, complete=routing_status == "closed")
        ch.status = status
        ch.paused = ch.parked = None
        cv = self.conversations
        conv = cv.conversations.get(ch.conversation_sid)
        if status == "inactive":
            for part in [p for p in ch.participants.values() if p.type == "agent"]:
                self.drop_agent(ch, part)
        if conv is not None and conv.state != "closed":
            cv.update(conv, state="closed" if status == "closed" else "inactive", origin=Origin(fire=True))

    def end_channel_tasks(self, ch: InteractionChannel, *, complete: bool) -> None:
        """Every task of the channel ends: not yet assigned ones are canceled, assigned ones move
        to wrapping (or, `complete`, assigned and wrapping ones are completed)."""
        tr = self.taskrouter
        for task_sid in list(ch.task_sids):
            try:
                ws, task = tr.find_task(task_sid)
            except TwilioError:
                continue  # deleted by now
            if task.assignment_status in ("pending", "reserved"):
                tr.cancel(ws, task, CHANNEL_CLOSED)
            elif complete and task.assignment_status in ("assigned", "wrapping"):
                tr.complete(ws, task, CHANNEL_CLOSED)
            elif task.assignment_status == "assigned":
                tr.wrapup(ws, task, CHANNEL_CLOSED)

    def update_participant(self, ch: InteractionChannel, part: InteractionParticipant, status: str) -> None:
        """`POST .../Participants/{UT}`: ``wrapup`` moves the agent's task to wrapping and takes
        them out of the conversation; ``closed`` completes the task and takes them out of the
        conversation and the channel. The conversation stays open."""
        if part.type != "agent":
            raise bad_request("Only an agent participant's status can be updated")
        tr = self.taskrouter
        task_sid = (part.routing_properties or {}).get("task_sid")
        try:
            ws, task = tr.find_task(task_sid or "")
        except TwilioError:
            task = None
        if task is not None:
            if status == "wrapup" and task.assignment_status == "assigned":
                tr.wrapup(ws, task)
            elif status == "closed" and task.assignment_status in ("assigned", "wrapping"):
                tr.complete(ws, task)
        if status == "closed":
            self.drop_agent(ch, part)
        else:
            part.status = status
            leave_conversation(self.conversations, ch.conversation_sid, part.identity, Origin(fire=True))

    def drop_agent(self, ch: InteractionChannel, part: InteractionParticipant) -> None:
        """The agent is out of the channel and of its conversation."""
        ch.participants.pop(part.sid, None)
        leave_conversation(self.conversations, ch.conversation_sid, part.identity, Origin(fire=True))

    # ------------------------------------------------------- misuse record
    def _on_task_change_requested(self, request: TaskChangeRequested) -> None:
        """A REST call asked TaskRouter to change an interaction's task: Twilio carries it out,
        but the Flex docs call it unsupported ("Best Practices": change them through the
        Interactions Channels subresource). Recorded for tests to assert on."""
        task = request.task
        ch = channel_made_for(self.channels, task)
        if ch is not None:
            self.misuses.append({"task_sid": task.sid, "channel_sid": ch.sid, "what": request.what})
