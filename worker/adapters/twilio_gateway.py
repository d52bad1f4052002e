"""The one gateway to Twilio's REST API, built on the official `twilio` library.

Every request names a path and parameter of Twilio's OpenAPI description (CONTRACT §5).
Errors come out as three kinds: `TwilioTransient` (429 and 5xx: retry with backoff, honouring
Retry-After), `PreconditionFailed` (412 on a stale `If-Match`), and `TwilioRejected` (any other
4xx: the step fails with its reason).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from worker.adapters.http_client import CallObserver, RoutedHttpClient, TwilioTransient
from worker.settings import Settings

NOTICE_AUTHOR = "system"
CONVERSATION_CLOSED = 50377  # "Can't update conversation as it's in final closed state"


class TwilioRejected(RuntimeError):
    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"Twilio answered {status} (code {code}): {message}")
        self.status = status
        self.code = code


class PreconditionFailed(TwilioRejected):
    pass


class NotFound(TwilioRejected):
    pass


def conversation_is_closed(error: TwilioRejected) -> bool:
    """Twilio refused a change because the conversation is closed (final: never retried)."""
    return error.code == CONVERSATION_CLOSED


@dataclass(frozen=True)
class TaskSnapshot:
    sid: str
    assignment_status: str
    attributes: dict[str, Any]
    workflow_sid: str | None
    task_channel: str | None
    revision: str | None
    priority: int | None
    timeout: int | None
    reason: str | None = None


@dataclass(frozen=True)
class WorkerSnapshot:
    sid: str
    friendly_name: str
    attributes: dict[str, Any]


def _loads(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _invited_task(routing: Any) -> str | None:
    properties = routing.get("properties") if isinstance(routing, dict) else None
    sid = properties.get("sid") if isinstance(properties, dict) else None
    return sid if isinstance(sid, str) and sid.startswith("WT") else None


def _rejection(status: int, code: int | None, message: str) -> TwilioRejected | TwilioTransient:
    if status == 429 or status >= 500:
        return TwilioTransient(status, None)
    kind = {412: PreconditionFailed, 404: NotFound}.get(status, TwilioRejected)
    return kind(status, code, message)


def _translate(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except TwilioRestException as error:
        raise _rejection(int(error.status), error.code, error.msg) from error
    except TwilioException as error:
        # Paging (list/stream) raises the base exception with the response as its second arg.
        response = error.args[1] if len(error.args) > 1 else None
        status = getattr(response, "status_code", None)
        if status is None:
            raise
        body = _loads(getattr(response, "text", ""))
        raise _rejection(int(status), body.get("code"), str(body.get("message", error.args[0]))) from error


class TwilioGateway:
    def __init__(self, settings: Settings, observer: CallObserver | None = None) -> None:
        username, password = settings.rest_credentials
        self.http = RoutedHttpClient(
            settings.twilio_api_base_url, settings.twilio_http_timeout_seconds, observer=observer
        )
        self.client = Client(
            username, password, account_sid=settings.twilio_account_sid, http_client=self.http
        )
        self.workspace = self.client.taskrouter.v1.workspaces(settings.twilio_flex_workspace_sid)
        self.chat_service_sid = settings.twilio_flex_chat_service_sid

    # ---- TaskRouter ------------------------------------------------------------------------

    def fetch_task(self, task_sid: str) -> TaskSnapshot:
        response = _translate(lambda: self.workspace.tasks(task_sid).fetch_with_http_info())
        task = response.data
        etag = {k.lower(): v for k, v in (response.headers or {}).items()}.get("etag")
        return TaskSnapshot(
            sid=task.sid,
            assignment_status=task.assignment_status,
            attributes=_loads(task.attributes),
            workflow_sid=task.workflow_sid,
            task_channel=task.task_channel_unique_name,
            revision=etag,
            priority=task.priority,
            timeout=task.timeout,
            reason=task.reason,
        )

    def create_task(
        self,
        *,
        workflow_sid: str | None,
        task_channel: str,
        attributes: dict[str, Any],
        priority: int | None = None,
        timeout: int | None = None,
        routing_target: str | None = None,
    ) -> str:
        kwargs: dict[str, Any] = {"task_channel": task_channel, "attributes": json.dumps(attributes)}
        if workflow_sid:
            kwargs["workflow_sid"] = workflow_sid
        if priority is not None:
            kwargs["priority"] = priority
        if timeout is not None:
            kwargs["timeout"] = timeout
        if routing_target:
            kwargs["routing_target"] = routing_target
        return str(_translate(lambda: self.workspace.tasks.create(**kwargs)).sid)

    def update_task_attributes(self, task_sid: str, attributes: dict[str, Any], if_match: str | None) -> None:
        kwargs: dict[str, Any] = {"attributes": json.dumps(attributes)}
        if if_match:
            kwargs["if_match"] = if_match
        _translate(lambda: self.workspace.tasks(task_sid).update(**kwargs))

    def set_task_status(self, task_sid: str, status: str, reason: str) -> None:
        _translate(lambda: self.workspace.tasks(task_sid).update(assignment_status=status, reason=reason))

    def inflight_tasks_of(self, conversation_sid: str) -> list[str]:
        """Tasks TaskRouter still has open on this chat, whatever we heard of them."""
        expression = f'conversationSid == "{conversation_sid}" OR channelSid == "{conversation_sid}"'
        tasks = _translate(
            lambda: self.workspace.tasks.list(
                assignment_status=["pending", "reserved", "assigned"],
                evaluate_task_attributes=expression,
                page_size=50,
                limit=200,
            )
        )
        return [task.sid for task in tasks]

    def open_task_sids(self, page_size: int = 1000) -> tuple[set[str], int]:
        """Every task of the workspace still pending, reserved or assigned, and the pages it took."""
        sids: set[str] = set()
        page = _translate(
            lambda: self.workspace.tasks.page(
                assignment_status=["pending", "reserved", "assigned"], page_size=page_size
            )
        )
        pages = 1
        while page is not None:
            sids.update(task.sid for task in page)
            page = _translate(page.next_page)
            pages += page is not None
        return sids, pages

    def tasks_marked(self, attribute: str, value: str) -> list[str]:
        """Tasks, in any state, whose attribute `attribute` is `value`: how a retried create finds
        the task its first attempt may have made before it crashed."""
        tasks = _translate(
            lambda: self.workspace.tasks.list(evaluate_task_attributes=f'{attribute} == "{value}"', limit=20)
        )
        return [task.sid for task in tasks]

    def accepted_worker_of(self, task_sid: str) -> str | None:
        """The worker holding the task: its accepted reservation's worker."""
        reservations = _translate(
            lambda: self.workspace.tasks(task_sid).reservations.list(reservation_status="accepted", limit=5)
        )
        return next((r.worker_sid for r in reservations), None)

    def fetch_worker(self, worker_sid: str) -> WorkerSnapshot:
        worker = _translate(lambda: self.workspace.workers(worker_sid).fetch())
        return WorkerSnapshot(worker.sid, worker.friendly_name, _loads(worker.attributes))

    def fetch_queue_name(self, queue_sid: str) -> str:
        return str(_translate(lambda: self.workspace.task_queues(queue_sid).fetch()).friendly_name)

    # ---- Conversations ---------------------------------------------------------------------

    def _conversation(self, conversation_sid: str) -> Any:
        conversations = self.client.conversations.v1
        if self.chat_service_sid:
            return conversations.services(self.chat_service_sid).conversations(conversation_sid)
        return conversations.conversations(conversation_sid)

    def post_message(self, conversation_sid: str, body: str, attributes: dict[str, Any]) -> str:
        message = _translate(
            lambda: self._conversation(conversation_sid).messages.create(
                author=NOTICE_AUTHOR, body=body, attributes=json.dumps(attributes)
            )
        )
        return str(message.sid)

    def notice_keys_posted(self, conversation_sid: str, limit: int = 100) -> set[str]:
        """The `noticeKey`s of our notices among the chat's latest messages (a retry's check)."""
        messages = _translate(
            lambda: self._conversation(conversation_sid).messages.list(
                order="desc", limit=limit, page_size=limit
            )
        )
        keys = set()
        for message in messages:
            if message.author == NOTICE_AUTHOR:
                key = _loads(message.attributes).get("noticeKey")
                if key:
                    keys.add(key)
        return keys

    def conversation_attributes(self, conversation_sid: str) -> tuple[dict[str, Any], str]:
        conversation = _translate(lambda: self._conversation(conversation_sid).fetch())
        return _loads(conversation.attributes), str(conversation.state)

    def update_conversation(
        self, conversation_sid: str, *, attributes: dict[str, Any] | None = None, state: str | None = None
    ) -> None:
        kwargs: dict[str, Any] = {}
        if attributes is not None:
            kwargs["attributes"] = json.dumps(attributes)
        if state is not None:
            kwargs["state"] = state
        _translate(lambda: self._conversation(conversation_sid).update(**kwargs))

    def remove_participant(self, conversation_sid: str, identity: str) -> bool:
        """Take the participant `identity` out of the conversation (Flex's LeaveConversation);
        False when it is not there (already gone)."""
        participants = self._conversation(conversation_sid).participants
        listed = _translate(lambda: participants.list(limit=100))
        found = [p for p in listed if p.identity == identity]
        for participant in found:
            _translate(lambda p=participant: participants(p.sid).delete())
        return bool(found)

    # ---- Flex Interactions -------------------------------------------------------------------

    def interaction_channel_status(self, interaction_sid: str, channel_sid: str) -> str:
        """The channel's status: setup, active, failed, closed, inactive, pause or transfer."""
        return str(_translate(lambda: self._channel(interaction_sid, channel_sid).fetch()).status)

    def _channel(self, interaction_sid: str, channel_sid: str) -> Any:
        return self.client.flex_api.v1.interaction(interaction_sid).channels(channel_sid)

    def create_invite(self, interaction_sid: str, channel_sid: str, routing: dict[str, Any]) -> str | None:
        """Invite on the channel; the sid of the task it made, from the answer's `routing.properties.sid`
        (as the Flex template's conversation-transfer reads it), or None if the answer names none."""
        invite = _translate(
            lambda: self._channel(interaction_sid, channel_sid).invites.create(routing=routing)
        )
        return _invited_task(invite.routing)

    def invited_tasks(self, interaction_sid: str, channel_sid: str, attribute: str, value: str) -> list[str]:
        """Tasks made by the channel's invites whose routing attributes carry `attribute` = `value`:
        how a retried invite finds the one an earlier attempt sent before its answer was lost."""
        invites = _translate(lambda: self._channel(interaction_sid, channel_sid).invites.list(limit=200))
        found = []
        for invite in invites:
            properties = (invite.routing or {}).get("properties") or {}
            attributes = properties.get("attributes")
            attributes = _loads(attributes) if isinstance(attributes, str) else attributes or {}
            if isinstance(attributes, dict) and attributes.get(attribute) == value:
                found.append(_invited_task(invite.routing))
        return [sid for sid in found if sid]

    def close_agent_participant(self, interaction_sid: str, channel_sid: str, task_sid: str) -> bool:
        """Close the agent participant working `task_sid` (a cold transfer's invite strategy)."""
        channel = self._channel(interaction_sid, channel_sid)
        participants = _translate(lambda: channel.participants.list(limit=50))
        for participant in participants:
            routing = participant.routing_properties or {}
            if participant.type == "agent" and routing.get("task_sid") == task_sid:
                _translate(lambda p=participant: channel.participants(p.sid).update(status="closed"))
                return True
        return False

    def close_interaction_channel(self, interaction_sid: str, channel_sid: str) -> None:
        _translate(
            lambda: (
                self.client.flex_api.v1.interaction(interaction_sid)
                .channels(channel_sid)
                .update(status="closed")
            )
        )
