"""Flex: the Interactions API, the Flex token check, and the chat orchestration
Flex performs on TaskRouter events.

* ``POST /v1/Interactions`` (Channel, Routing JSON) makes a channel ``UO`` on a
  conversation (the given ``properties.media_channel_sid`` or a new one) and a routed
  task whose attributes carry ``flexInteractionSid``, ``flexInteractionChannelSid`` and
  ``conversationSid``;
* ``.../Channels/{UO}`` update ``Status=closed`` moves the channel's tasks to wrapping
  (``Routing={"status":"closed"}``: completes them), cancels the ones not yet assigned,
  and closes the conversation; ``Status=inactive`` (needs Routing status closed)
  completes the tasks and makes the conversation inactive;
* ``.../Invites`` create a new routed task for the same channel (attributes also carry
  ``flexChannelInviteSid``);
* ``.../Participants`` list the customer and the agents who accepted; updating an agent
  to ``wrapup`` moves their task to wrapping, to ``closed`` completes it and takes
  them out of the channel;
* ``POST iam /v1/Accounts/{AC}/Tokens/validate`` answers for the tokens a test
  registers (`Flex.register_token`); unknown or expired tokens get ``valid: false``
  (HTTP 200, as Twilio's validator endpoint does).

Orchestration (each switchable on the Sandbox): when an agent accepts a reservation on
a task naming a conversation, they are added to it as a participant (identity: the
worker's ``contact_uri`` without ``client:``) and, for an interaction task, as an agent
interaction participant; when that task goes to wrapping (or is completed) they are
removed, unless another live task of theirs is on the same conversation.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from .clock import iso_ms
from .conversations import Conversations, Origin
from .core import Core, parse_json_param
from .errors import TwilioError, bad_request, not_found
from .rest import Req, ok, paginate, route
from .taskrouter import ReservationAccepted, Task, TaskChange, TaskCompleted, TaskRouter, TaskWrappedUp

FX = "https://flex-api.twilio.com/v1"


@dataclass
class InteractionParticipant:
    sid: str
    type: str
    routing_properties: dict | None
    identity: str | None = None


@dataclass
class Invite:
    sid: str
    routing: dict


@dataclass
class InteractionChannel:
    sid: str
    interaction_sid: str
    type: str
    status: str
    conversation_sid: str
    participants: dict[str, InteractionParticipant] = field(default_factory=dict)
    invites: list[Invite] = field(default_factory=list)
    task_sids: list[str] = field(default_factory=list)


@dataclass
class Interaction:
    sid: str
    channel: dict
    routing: dict
    channel_sid: str
    interaction_context_sid: str | None
    webhook_ttid: str | None


@dataclass
class Token:
    token: str
    worker_sid: str | None
    identity: str
    roles: list[str]
    expiration: float
    realm_user_id: str | None
    flex_user_sid: str


@dataclass
class OrchestrationFlags:
    add_agent_on_accept: bool = True
    remove_agent_on_wrapup: bool = True
    remove_agent_on_complete: bool = True


def worker_identity(worker_attributes: str, friendly_name: str) -> str:
    """The chat identity Flex uses for a worker: contact_uri without 'client:'."""
    try:
        attrs = json.loads(worker_attributes)
    except ValueError:
        attrs = {}
    uri = attrs.get("contact_uri") or f"client:{friendly_name}"
    return uri[len("client:") :] if uri.startswith("client:") else uri


class Flex:
    def __init__(self, core: Core, taskrouter: TaskRouter, conversations: Conversations) -> None:
        self.core = core
        self.taskrouter = taskrouter
        self.conversations = conversations
        self.interactions: dict[str, Interaction] = {}
        self.channels: dict[str, InteractionChannel] = {}
        self.tokens: dict[str, Token] = {}
        self.flags = OrchestrationFlags()
        self.flex_instance_sid = core.sid("GO")
        core.register(self)
        core.subscribe(ReservationAccepted, self._on_accepted)
        core.subscribe(TaskWrappedUp, self._on_task_ended)
        core.subscribe(TaskCompleted, self._on_task_ended)

    # --------------------------------------------------------------- tokens
    def register_token(
        self,
        worker_sid: str | None,
        *,
        token: str | None = None,
        identity: str | None = None,
        roles: list[str] | tuple[str, ...] = ("agent",),
        ttl: float = 3600,
    ) -> str:
        token = token or "eyJ" + secrets.token_urlsafe(48)
        if identity is None and worker_sid:
            _, worker = self.taskrouter.find_worker(worker_sid)
            identity = worker_identity(worker.attributes, worker.friendly_name)
        self.tokens[token] = Token(
            token=token,
            worker_sid=worker_sid,
            identity=identity or "unknown",
            roles=list(roles),
            expiration=self.core.now() + ttl,
            realm_user_id=identity,
            flex_user_sid=self.core.sid("FU"),
        )
        return token

    def validate(self, token: str) -> dict[str, Any]:
        tok = self.tokens.get(token)
        if tok is None:
            return {
                "valid": False,
                "code": 20003,
                "message": "Token is not valid",
                "expiration": None,
                "realm_user_id": None,
                "identity": None,
                "roles": None,
                "worker_sid": None,
            }
        if tok.expiration <= self.core.now():
            return {
                "valid": False,
                "code": 20104,
                "message": "Token expired",
                "expiration": iso_ms(tok.expiration),
                "realm_user_id": None,
                "identity": None,
                "roles": None,
                "worker_sid": None,
            }
        return {
            "valid": True,
            "code": 0,
            "message": None,
            "expiration": iso_ms(tok.expiration),
            "realm_user_id": tok.realm_user_id,
            "identity": tok.identity,
            "roles": list(tok.roles),
            "worker_sid": tok.worker_sid,
            "flex_instance_sid": self.flex_instance_sid,
            "flex_user_sid": tok.flex_user_sid,
        }

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
        if ch.status in ("closed", "inactive", "failed"):
            raise bad_request(f"Interaction Channel {ch.sid} is {ch.status}")
        kg = self.core.sid("KG")
        task = self._routed_task(ch, routing, extra={"flexChannelInviteSid": kg})
        inv = Invite(kg, {"reservation": None, "properties": self._task_properties(task)})
        ch.invites.append(inv)
        return inv

    def update_channel(self, ch: InteractionChannel, status: str, routing: Any) -> None:
        routing_status = routing.get("status") if isinstance(routing, dict) else None
        if status == "inactive" and routing_status != "closed":
            raise bad_request("Routing status closed is required when the channel status is inactive")
        tr = self.taskrouter
        for task_sid in ch.task_sids:
            try:
                ws, task = tr.find_task(task_sid)
            except TwilioError:
                continue
            if task.assignment_status in ("pending", "reserved"):
                tr.cancel(ws, task, "Interaction channel closed")
            elif routing_status == "closed":
                if task.assignment_status in ("assigned", "wrapping"):
                    tr.complete(ws, task, "Interaction channel closed")
            elif task.assignment_status == "assigned":
                tr.wrapup(ws, task, "Interaction channel closed")
        ch.status = status
        cv = self.conversations
        conv = cv.conversations.get(ch.conversation_sid)
        if conv is not None and conv.state != "closed":
            cv.update(conv, state="closed" if status == "closed" else "inactive", origin=Origin(fire=True))

    def update_participant(self, ch: InteractionChannel, part: InteractionParticipant, status: str) -> None:
        if part.type != "agent":
            raise bad_request("Only an agent participant's status can be updated")
        tr = self.taskrouter
        task_sid = (part.routing_properties or {}).get("task_sid")
        if task_sid:
            try:
                ws, task = tr.find_task(task_sid)
            except TwilioError:
                task = None
            if task is not None:
                if status == "wrapup" and task.assignment_status == "assigned":
                    tr.wrapup(ws, task)
                elif status == "closed" and task.assignment_status in ("assigned", "wrapping"):
                    tr.complete(ws, task)
        if status == "closed":
            ch.participants.pop(part.sid, None)
            self._leave_conversation(ch.conversation_sid, part.identity)

    # ---------------------------------------------------------- orchestration
    def _on_accepted(self, change: ReservationAccepted) -> None:
        """The agent who accepts a task naming a conversation joins it (and the interaction)."""
        task, worker, res = change.task, change.worker, change.reservation
        attrs = task.attrs
        conv_sid = attrs.get("conversationSid") or attrs.get("channelSid")
        if not conv_sid or worker is None or not self.flags.add_agent_on_accept:
            return
        identity = worker_identity(worker.attributes, worker.friendly_name)
        cv = self.conversations
        conv = cv.conversations.get(conv_sid)
        if (
            conv is not None
            and conv.state != "closed"
            and not any(p.identity == identity for p in conv.participants.values())
        ):
            member = json.dumps({"member_type": "agent", "worker_sid": worker.sid})
            cv.add_participant(conv, identity=identity, attributes=member, origin=Origin(fire=True))
        ch = self.channels.get(attrs.get("flexInteractionChannelSid") or "")
        if ch is not None:
            props = {
                "task_sid": task.sid,
                "worker_sid": worker.sid,
                "reservation_sid": res.sid if res else None,
            }
            part = InteractionParticipant(self.core.sid("UT"), "agent", props, identity)
            ch.participants[part.sid] = part

    def _on_task_ended(self, change: TaskChange) -> None:
        """The agent whose task wraps up (or completes) leaves its conversation, unless another
        assigned task of theirs is on it."""
        task, worker, ws = change.task, change.worker, change.workspace
        attrs = task.attrs
        conv_sid = attrs.get("conversationSid") or attrs.get("channelSid")
        if not conv_sid or worker is None:
            return
        wanted = (
            self.flags.remove_agent_on_wrapup
            if isinstance(change, TaskWrappedUp)
            else self.flags.remove_agent_on_complete
        )
        if not wanted:
            return
        others = [
            t
            for t in ws.tasks.values()
            if t.sid != task.sid
            and t.worker_sid == worker.sid
            and t.assignment_status == "assigned"
            and (t.attrs.get("conversationSid") or t.attrs.get("channelSid")) == conv_sid
        ]
        if not others:
            self._leave_conversation(conv_sid, worker_identity(worker.attributes, worker.friendly_name))

    def _leave_conversation(self, conv_sid: str, identity: str | None) -> None:
        if not identity:
            return
        cv = self.conversations
        conv = cv.conversations.get(conv_sid)
        if conv is None or conv.state == "closed":
            return
        for p in list(conv.participants.values()):
            if p.identity == identity:
                cv.remove_participant(conv, p, Origin(fire=True))


# ----------------------------------------------------------------- rendering
def interaction_json(inter: Interaction) -> dict:
    url = f"{FX}/Interactions/{inter.sid}"
    return {
        "sid": inter.sid,
        "channel": inter.channel,
        "routing": inter.routing,
        "interaction_context_sid": inter.interaction_context_sid,
        "webhook_ttid": inter.webhook_ttid,
        "url": url,
        "links": {"channels": f"{url}/Channels"},
    }


def channel_json(ch: InteractionChannel) -> dict:
    url = f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}"
    return {
        "sid": ch.sid,
        "interaction_sid": ch.interaction_sid,
        "type": ch.type,
        "status": ch.status,
        "error_code": None,
        "error_message": None,
        "url": url,
        "links": {
            "participants": f"{url}/Participants",
            "invites": f"{url}/Invites",
            "transfers": f"{url}/Transfers",
        },
    }


def invite_json(ch: InteractionChannel, inv: Invite) -> dict:
    return {
        "sid": inv.sid,
        "interaction_sid": ch.interaction_sid,
        "channel_sid": ch.sid,
        "routing": inv.routing,
        "url": f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}/Invites/{inv.sid}",
    }


def participant_json(ch: InteractionChannel, p: InteractionParticipant) -> dict:
    return {
        "sid": p.sid,
        "type": p.type,
        "interaction_sid": ch.interaction_sid,
        "channel_sid": ch.sid,
        "url": f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}/Participants/{p.sid}",
        "routing_properties": p.routing_properties,
    }


# ------------------------------------------------------------ REST handlers
def _fx(req: Req) -> Flex:
    return req.core.product(Flex)


CH = "/v1/Interactions/{InteractionSid}/Channels"


@route("flex-api", "/v1/Interactions", "POST")
def create_interaction(req: Req):
    fx = _fx(req)
    channel = parse_json_param(req.get("Channel"), "Channel")
    routing = parse_json_param(req.get("Routing"), "Routing")
    inter = fx.create_interaction(channel, routing, req.get("InteractionContextSid"), req.get("WebhookTtid"))
    return ok(interaction_json(inter))


@route("flex-api", "/v1/Interactions/{Sid}", "GET", "POST")
def interaction(req: Req):
    fx = _fx(req)
    inter = fx.interactions.get(req["Sid"])
    if inter is None:
        raise not_found(f"The requested resource /Interactions/{req['Sid']} was not found")
    if req.method == "POST" and req.has("WebhookTtid"):
        inter.webhook_ttid = req.get("WebhookTtid")
    return ok(interaction_json(inter))


@route("flex-api", CH, "GET")
def channels(req: Req):
    fx = _fx(req)
    if req["InteractionSid"] not in fx.interactions:
        raise not_found(f"Interaction {req['InteractionSid']} not found")
    items = [c for c in fx.channels.values() if c.interaction_sid == req["InteractionSid"]]
    return paginate(
        req, items, "channels", f"{FX}/Interactions/{req['InteractionSid']}/Channels", channel_json
    )


@route("flex-api", f"{CH}/{{Sid}}", "GET", "POST")
def channel(req: Req):
    fx = _fx(req)
    ch = fx.channel(req["InteractionSid"], req["Sid"])
    if req.method == "POST":
        fx.update_channel(ch, req.get("Status"), parse_json_param(req.get("Routing"), "Routing"))
    return ok(channel_json(ch))


@route("flex-api", f"{CH}/{{ChannelSid}}/Invites", "GET", "POST")
def invites(req: Req):
    fx = _fx(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    if req.method == "POST":
        inv = fx.invite(ch, parse_json_param(req.get("Routing"), "Routing"))
        return ok(invite_json(ch, inv))
    url = f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}/Invites"
    return paginate(req, list(ch.invites), "invites", url, lambda i: invite_json(ch, i))


@route("flex-api", f"{CH}/{{ChannelSid}}/Participants", "GET", "POST")
def participants(req: Req):
    fx = _fx(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    if req.method == "POST":
        media = parse_json_param(req.get("MediaProperties"), "MediaProperties", {})
        part = InteractionParticipant(fx.core.sid("UT"), req.get("Type"), None, (media or {}).get("identity"))
        ch.participants[part.sid] = part
        return ok(participant_json(ch, part))
    url = f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}/Participants"
    return paginate(
        req, list(ch.participants.values()), "participants", url, lambda p: participant_json(ch, p)
    )


@route("flex-api", f"{CH}/{{ChannelSid}}/Participants/{{Sid}}", "POST")
def participant(req: Req):
    fx = _fx(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    part = ch.participants.get(req["Sid"])
    if part is None:
        raise not_found(f"Participant {req['Sid']} not found")
    fx.update_participant(ch, part, req.get("Status"))
    return ok(participant_json(ch, part))


def validate_token_request(flex: Flex, own_account_sid: str, account_sid: str, body: Any) -> tuple[int, dict]:
    """POST iam /v1/Accounts/{AC}/Tokens/validate (not in the OpenAPI descriptions)."""
    if account_sid != own_account_sid:
        raise TwilioError(
            404, 20404, f"The requested resource /v1/Accounts/{account_sid}/Tokens/validate was not found"
        )
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        raise bad_request('The body must be JSON {"token": "..."}')
    return 200, flex.validate(body["token"])
