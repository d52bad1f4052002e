"""Conversations: services, conversations, participants, messages, the webhook
configuration (global and per service) and the post-event webhook.

As on Twilio:

* a change made through the REST API fires the post-event webhook only when the
  request carries ``X-Twilio-Webhook-Enabled: true``; changes made by the customer or
  an agent through the SDK (the sandbox's Python API), by Flex, or by a timer always do;
* a service-level webhook (``/v1/Services/{IS}/Configuration/Webhooks``) with a
  PostWebhookUrl replaces the global one (``/v1/Configuration/Webhooks``) for that
  service's conversations; only the events listed in ``Filters`` fire; the global
  target must be ``webhook`` (``flex`` sends nothing to your URL);
* each webhook carries ``I-Twilio-Idempotency-Token`` (kept on redelivery) and is
  signed with ``X-Twilio-Signature``;
* a closed conversation is final: new messages, participants and updates are refused
  with error 50377; a conversation cannot be created closed (50384);
* ``Timers.Inactive`` / ``Timers.Closed`` (ISO 8601 durations) move the conversation
  to inactive / closed after that long without a message (Reason ``TIMER``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clock import iso, iso_ms, parse_iso_duration
from .core import Core, parse_attributes
from .errors import (
    CONVERSATION_CLOSED,
    INITIAL_STATE_CLOSED,
    PARTICIPANT_EXISTS,
    TwilioError,
    bad_request,
    not_found,
)
from .rest import Req, no_content, ok, paginate, route

CV = "https://conversations.twilio.com/v1"
STATES = ("initializing", "inactive", "active", "closed")
POST_EVENTS = [
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
]


@dataclass
class WebhookConfig:
    method: str = "POST"
    filters: list[str] = field(default_factory=list)
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    target: str = "webhook"


@dataclass
class Service:
    sid: str
    friendly_name: str
    date_created: float
    date_updated: float
    participant_role_sid: str
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    reachability_enabled: bool = False


@dataclass
class Participant:
    sid: str
    conversation_sid: str
    identity: str | None
    attributes: str
    messaging_binding: dict | None
    role_sid: str
    date_created: float
    date_updated: float
    last_read_message_index: int | None = None
    last_read_timestamp: str | None = None


@dataclass
class Message:
    sid: str
    conversation_sid: str
    index: int
    author: str
    body: str | None
    attributes: str
    participant_sid: str | None
    date_created: float
    date_updated: float


@dataclass
class Conversation:
    sid: str
    service_sid: str
    messaging_service_sid: str
    friendly_name: str | None
    unique_name: str | None
    attributes: str
    state: str
    date_created: float
    date_updated: float
    inactive_after: float | None = None
    closed_after: float | None = None
    last_activity: float = 0.0
    participants: dict[str, Participant] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    next_index: int = 0

    @property
    def date_inactive(self) -> float | None:
        return self.last_activity + self.inactive_after if self.inactive_after else None

    @property
    def date_closed(self) -> float | None:
        return self.last_activity + self.closed_after if self.closed_after else None


def _writable(conv: Conversation) -> None:
    """A closed conversation is final: Twilio refuses any change with 50377."""
    if conv.state == "closed":
        raise TwilioError(400, CONVERSATION_CLOSED, "Can't update conversation as it's in final closed state")


@dataclass
class Origin:
    """Who made a change: REST (fires only with the header), SDK user, Flex, timer."""

    source: str = "API"  # Source field: API or SDK
    fire: bool = True
    client_identity: str | None = None
    reason: str = "API"  # onConversationStateUpdated Reason: API, TIMER, EVENT


@dataclass(frozen=True)
class ConversationsEvent:
    """Something happened in a conversation (`event_type`: onConversationAdded, onMessageAdded...),
    `fields` being the event's own webhook fields, made by `origin`. The post-event webhook
    subscribes to these (and Event Streams may). ``minimal``: the webhook carries no
    Source/ClientIdentity (onConversationStateUpdated)."""

    event_type: str
    conversation: Conversation
    fields: dict[str, str]
    origin: Origin
    minimal: bool = False


class Conversations:
    def __init__(self, core: Core) -> None:
        self.core = core
        core.register(self)
        core.subscribe(ConversationsEvent, self._post_event_webhook)
        self.services: dict[str, Service] = {}
        self.conversations: dict[str, Conversation] = {}
        self.global_webhooks = WebhookConfig()
        self.default_messaging_service_sid = core.sid("MG")
        self.default_service_sid = self.create_service("Flex Chat Service").sid
        self.default_inactive_timer: str | None = None
        self.default_closed_timer: str | None = None

    # ----------------------------------------------------------- services
    def create_service(self, friendly_name: str) -> Service:
        now = self.core.now()
        svc = Service(self.core.sid("IS"), friendly_name, now, now, self.core.sid("RL"))
        self.services[svc.sid] = svc
        return svc

    def service(self, sid: str | None) -> Service:
        svc = self.services.get(sid or self.default_service_sid)
        if svc is None:
            raise not_found(f"Service {sid} not found")
        return svc

    # ------------------------------------------------------ conversations
    def get(self, sid_or_name: str, service_sid: str | None = None) -> Conversation:
        conv = self.conversations.get(sid_or_name)
        if conv is None:
            conv = next((c for c in self.conversations.values() if c.unique_name == sid_or_name), None)
        if conv is None or (service_sid is not None and conv.service_sid != service_sid):
            raise not_found(f"The requested resource /Conversations/{sid_or_name} was not found")
        return conv

    def create(
        self,
        *,
        service_sid: str | None = None,
        friendly_name: str | None = None,
        unique_name: str | None = None,
        attributes: str | None = None,
        state: str | None = None,
        timers_inactive: str | None = None,
        timers_closed: str | None = None,
        messaging_service_sid: str | None = None,
        date_created: float | None = None,
        origin: Origin | None = None,
    ) -> Conversation:
        origin = origin or Origin()
        svc = self.service(service_sid)
        if state == "closed":
            raise TwilioError(400, INITIAL_STATE_CLOSED, "Initial state can't be 'closed'")
        if unique_name and any(c.unique_name == unique_name for c in self.conversations.values()):
            raise TwilioError(
                409, 50353, f"Conversation with provided unique name already exists: {unique_name}"
            )
        now = self.core.now()
        conv = Conversation(
            sid=self.core.sid("CH"),
            service_sid=svc.sid,
            messaging_service_sid=messaging_service_sid or self.default_messaging_service_sid,
            friendly_name=friendly_name,
            unique_name=unique_name,
            attributes=parse_attributes(attributes),
            state=state or "active",
            date_created=date_created or now,
            date_updated=now,
            last_activity=now,
        )
        self._set_timers(
            conv, timers_inactive or self.default_inactive_timer, timers_closed or self.default_closed_timer
        )
        self.conversations[conv.sid] = conv
        self._fire(conv, "onConversationAdded", self._conversation_fields(conv), origin)
        self.core.notify()
        return conv

    def _set_timers(self, conv: Conversation, inactive: str | None, closed: str | None) -> None:
        try:
            if inactive is not None:
                conv.inactive_after = parse_iso_duration(inactive) if inactive else None
            if closed is not None:
                conv.closed_after = parse_iso_duration(closed) if closed else None
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def update(
        self,
        conv: Conversation,
        *,
        friendly_name: str | None = None,
        unique_name: str | None = None,
        attributes: str | None = None,
        state: str | None = None,
        timers_inactive: str | None = None,
        timers_closed: str | None = None,
        origin: Origin | None = None,
    ) -> Conversation:
        origin = origin or Origin()
        _writable(conv)
        if state is not None and state not in STATES:
            raise bad_request(f"Invalid State {state}")
        if friendly_name is not None:
            conv.friendly_name = friendly_name
        if unique_name is not None:
            conv.unique_name = unique_name or None
        if attributes is not None:
            conv.attributes = parse_attributes(attributes)
        self._set_timers(conv, timers_inactive, timers_closed)
        previous = conv.state
        if state is not None:
            conv.state = state
        conv.date_updated = self.core.now()
        self._fire(conv, "onConversationUpdated", self._conversation_fields(conv), origin)
        if conv.state != previous:
            self._state_changed(conv, previous, origin)
        self.core.notify()
        return conv

    def _state_changed(self, conv: Conversation, previous: str, origin: Origin) -> None:
        fields = {
            "StateFrom": previous,
            "StateTo": conv.state,
            "Reason": origin.reason,
            "StateUpdated": iso_ms(self.core.now()),
        }
        self._fire(conv, "onConversationStateUpdated", fields, origin, minimal=True)

    def delete(self, conv: Conversation, origin: Origin | None = None) -> None:
        origin = origin or Origin()
        fields = self._conversation_fields(conv)
        fields["DateRemoved"] = iso_ms(self.core.now())
        self._fire(conv, "onConversationRemoved", fields, origin)
        del self.conversations[conv.sid]
        self.core.notify()

    # --------------------------------------------------------- participants
    def participant(self, conv: Conversation, sid_or_identity: str) -> Participant:
        p = conv.participants.get(sid_or_identity)
        if p is None:
            p = next((x for x in conv.participants.values() if x.identity == sid_or_identity), None)
        if p is None:
            raise not_found(f"Participant {sid_or_identity} not found")
        return p

    def add_participant(
        self,
        conv: Conversation,
        *,
        identity: str | None = None,
        address: str | None = None,
        proxy_address: str | None = None,
        projected_address: str | None = None,
        attributes: str | None = None,
        role_sid: str | None = None,
        origin: Origin | None = None,
    ) -> Participant:
        origin = origin or Origin()
        _writable(conv)
        if not identity and not address and not projected_address:
            raise bad_request("Either Identity or MessagingBinding.Address (or ProjectedAddress) is required")
        if identity and any(p.identity == identity for p in conv.participants.values()):
            raise TwilioError(409, PARTICIPANT_EXISTS, "Participant already exists")
        binding = None
        if address or projected_address:
            kind = "whatsapp" if (address or "").startswith("whatsapp:") else "sms"
            binding = {"type": kind}
            if address:
                binding["address"] = address
            if proxy_address:
                binding["proxy_address"] = proxy_address
            if projected_address:
                binding["projected_address"] = projected_address
        now = self.core.now()
        p = Participant(
            sid=self.core.sid("MB"),
            conversation_sid=conv.sid,
            identity=identity,
            attributes=parse_attributes(attributes),
            messaging_binding=binding,
            role_sid=role_sid or self.service(conv.service_sid).participant_role_sid,
            date_created=now,
            date_updated=now,
        )
        conv.participants[p.sid] = p
        self._fire(conv, "onParticipantAdded", self._participant_fields(p), origin)
        self.core.notify()
        return p

    def update_participant(
        self,
        conv: Conversation,
        p: Participant,
        *,
        attributes=None,
        identity=None,
        last_read_index=None,
        origin: Origin | None = None,
    ) -> Participant:
        origin = origin or Origin()
        _writable(conv)
        if attributes is not None:
            p.attributes = parse_attributes(attributes)
        if identity is not None:
            p.identity = identity
        if last_read_index is not None:
            p.last_read_message_index = last_read_index
            p.last_read_timestamp = iso(self.core.now())
        p.date_updated = self.core.now()
        self._fire(conv, "onParticipantUpdated", self._participant_fields(p), origin)
        return p

    def remove_participant(self, conv: Conversation, p: Participant, origin: Origin | None = None) -> None:
        origin = origin or Origin()
        _writable(conv)
        del conv.participants[p.sid]
        p.date_updated = self.core.now()
        fields = self._participant_fields(p)
        fields["DateUpdated"] = iso_ms(p.date_updated)
        self._fire(conv, "onParticipantRemoved", fields, origin)
        self.core.notify()

    # ------------------------------------------------------------- messages
    def add_message(
        self,
        conv: Conversation,
        *,
        author: str | None = None,
        body: str | None = None,
        attributes: str | None = None,
        date_created: float | None = None,
        origin: Origin | None = None,
    ) -> Message:
        origin = origin or Origin()
        _writable(conv)
        author = author or "system"
        participant = next(
            (
                p
                for p in conv.participants.values()
                if author in (p.identity, (p.messaging_binding or {}).get("address"))
            ),
            None,
        )
        now = self.core.now()
        msg = Message(
            sid=self.core.sid("IM"),
            conversation_sid=conv.sid,
            index=conv.next_index,
            author=author,
            body=body,
            attributes=parse_attributes(attributes),
            participant_sid=participant.sid if participant else None,
            date_created=date_created or now,
            date_updated=now,
        )
        conv.next_index += 1
        conv.messages.append(msg)
        conv.last_activity = now
        self._fire(conv, "onMessageAdded", self._message_fields(msg), origin)
        if conv.state == "inactive":
            previous, conv.state = conv.state, "active"
            self._state_changed(conv, previous, Origin(source=origin.source, fire=True, reason="EVENT"))
        self.core.notify()
        return msg

    def message(self, conv: Conversation, sid: str) -> Message:
        for m in conv.messages:
            if m.sid == sid:
                return m
        raise not_found(f"Message {sid} not found")

    def update_message(
        self,
        conv: Conversation,
        msg: Message,
        *,
        author=None,
        body=None,
        attributes=None,
        origin: Origin | None = None,
    ) -> Message:
        origin = origin or Origin()
        _writable(conv)
        if author is not None:
            msg.author = author
        if body is not None:
            msg.body = body
        if attributes is not None:
            msg.attributes = parse_attributes(attributes)
        msg.date_updated = self.core.now()
        self._fire(conv, "onMessageUpdated", self._message_fields(msg), origin)
        return msg

    def remove_message(self, conv: Conversation, msg: Message, origin: Origin | None = None) -> None:
        origin = origin or Origin()
        _writable(conv)
        conv.messages.remove(msg)
        self._fire(conv, "onMessageRemoved", self._message_fields(msg), origin)

    # ---------------------------------------------------------------- timers
    def tick(self) -> None:
        now = self.core.now()
        timer = Origin(source="API", fire=True, reason="TIMER")
        for conv in list(self.conversations.values()):
            if conv.state == "closed":
                continue
            if conv.date_closed is not None and conv.date_closed <= now:
                previous, conv.state = conv.state, "closed"
                conv.date_updated = now
                self._state_changed(conv, previous, timer)
            elif conv.state == "active" and conv.date_inactive is not None and conv.date_inactive <= now:
                previous, conv.state = conv.state, "inactive"
                conv.date_updated = now
                self._state_changed(conv, previous, timer)

    def next_deadline(self) -> float | None:
        times = []
        for conv in self.conversations.values():
            if conv.state == "closed":
                continue
            if conv.date_closed is not None:
                times.append(conv.date_closed)
            if conv.state == "active" and conv.date_inactive is not None:
                times.append(conv.date_inactive)
        return min(times) if times else None

    # -------------------------------------------------------------- webhooks
    def webhook_target(self, conv: Conversation) -> WebhookConfig | None:
        svc = self.services.get(conv.service_sid)
        if svc and svc.webhooks.post_webhook_url:
            return svc.webhooks
        g = self.global_webhooks
        if g.target == "webhook" and g.post_webhook_url:
            return g
        return None

    def _common_fields(self, conv: Conversation, event_type: str, origin: Origin) -> dict[str, str]:
        fields = {
            "AccountSid": self.core.account_sid,
            "ChatServiceSid": conv.service_sid,
            "ConversationSid": conv.sid,
            "MessagingServiceSid": conv.messaging_service_sid,
            "EventType": event_type,
            "Source": origin.source,
            "WebhookType": "webhook",
        }
        if origin.client_identity:
            fields["ClientIdentity"] = origin.client_identity
        return fields

    def _conversation_fields(self, conv: Conversation) -> dict[str, str]:
        fields = {
            "Attributes": conv.attributes,
            "DateCreated": iso_ms(conv.date_created),
            "DateUpdated": iso_ms(conv.date_updated),
            "State": conv.state,
        }
        if conv.friendly_name is not None:
            fields["FriendlyName"] = conv.friendly_name
        if conv.unique_name is not None:
            fields["UniqueName"] = conv.unique_name
        return fields

    def _participant_fields(self, p: Participant) -> dict[str, str]:
        fields = {
            "ParticipantSid": p.sid,
            "Attributes": p.attributes,
            "DateCreated": iso_ms(p.date_created),
            "RoleSid": p.role_sid,
        }
        if p.identity is not None:
            fields["Identity"] = p.identity
        for key, name in (
            ("address", "Address"),
            ("proxy_address", "ProxyAddress"),
            ("projected_address", "ProjectedAddress"),
            ("type", "Type"),
        ):
            if p.messaging_binding and key in p.messaging_binding:
                fields[f"MessagingBinding.{name}"] = p.messaging_binding[key]
        return fields

    def _message_fields(self, m: Message) -> dict[str, str]:
        fields = {
            "MessageSid": m.sid,
            "Index": str(m.index),
            "Author": m.author,
            "Attributes": m.attributes,
            "DateCreated": iso_ms(m.date_created),
        }
        if m.body is not None:
            fields["Body"] = m.body
        if m.participant_sid:
            fields["ParticipantSid"] = m.participant_sid
        return fields

    def _fire(self, conv: Conversation, event_type: str, fields: dict, origin: Origin, minimal=False) -> None:
        self.core.publish(ConversationsEvent(event_type, conv, fields, origin, minimal))

    def _post_event_webhook(self, event: ConversationsEvent) -> None:
        """Sent for a change the origin fires for, to the service's or the global target, when
        its Filters name the event."""
        conv, origin = event.conversation, event.origin
        if not origin.fire:
            return
        target = self.webhook_target(conv)
        if target is None or event.event_type not in target.filters:
            return
        payload = self._common_fields(conv, event.event_type, origin)
        if event.minimal:  # onConversationStateUpdated carries no Source/ClientIdentity
            payload.pop("Source", None)
            payload.pop("ClientIdentity", None)
        payload.update(event.fields)
        self.core.deliver("conversations", target.post_webhook_url, payload, target.method)


# ----------------------------------------------------------------- rendering
def _conv_base(conv: Conversation, via_service: bool) -> str:
    if via_service:
        return f"{CV}/Services/{conv.service_sid}/Conversations/{conv.sid}"
    return f"{CV}/Conversations/{conv.sid}"


def conversation_json(cv: Conversations, conv: Conversation, via_service: bool = False) -> dict:
    base = _conv_base(conv, via_service)
    timers = {}
    if conv.date_inactive is not None and conv.state == "active":
        timers["date_inactive"] = iso(conv.date_inactive)
    if conv.date_closed is not None and conv.state != "closed":
        timers["date_closed"] = iso(conv.date_closed)
    links = {
        "participants": f"{base}/Participants",
        "messages": f"{base}/Messages",
        "webhooks": f"{base}/Webhooks",
    }
    if not via_service:
        links["export"] = f"{base}/Export"
    return {
        "sid": conv.sid,
        "account_sid": cv.core.account_sid,
        "chat_service_sid": conv.service_sid,
        "messaging_service_sid": conv.messaging_service_sid,
        "friendly_name": conv.friendly_name,
        "unique_name": conv.unique_name,
        "attributes": conv.attributes,
        "date_created": iso(conv.date_created),
        "date_updated": iso(conv.date_updated),
        "state": conv.state,
        "timers": timers,
        "bindings": None,
        "url": base,
        "links": links,
    }


def participant_json(
    cv: Conversations, conv: Conversation, p: Participant, via_service: bool = False
) -> dict:
    out = {
        "account_sid": cv.core.account_sid,
        "conversation_sid": conv.sid,
        "sid": p.sid,
        "identity": p.identity,
        "attributes": p.attributes,
        "messaging_binding": p.messaging_binding,
        "role_sid": p.role_sid,
        "date_created": iso(p.date_created),
        "date_updated": iso(p.date_updated),
        "url": f"{_conv_base(conv, via_service)}/Participants/{p.sid}",
        "last_read_message_index": p.last_read_message_index,
        "last_read_timestamp": p.last_read_timestamp,
    }
    if via_service:
        out["chat_service_sid"] = conv.service_sid
    return out


def message_json(cv: Conversations, conv: Conversation, m: Message, via_service: bool = False) -> dict:
    url = f"{_conv_base(conv, via_service)}/Messages/{m.sid}"
    out = {
        "sid": m.sid,
        "account_sid": cv.core.account_sid,
        "conversation_sid": conv.sid,
        "body": m.body,
        "media": None,
        "author": m.author,
        "participant_sid": m.participant_sid,
        "attributes": m.attributes,
        "date_created": iso(m.date_created),
        "date_updated": iso(m.date_updated),
        "index": m.index,
        "delivery": None,
        "content_sid": None,
        "url": url,
        "links": {"delivery_receipts": f"{url}/Receipts", "channel_metadata": f"{url}/ChannelMetadata"},
    }
    if via_service:
        out["chat_service_sid"] = conv.service_sid
    return out


def service_json(cv: Conversations, svc: Service) -> dict:
    base = f"{CV}/Services/{svc.sid}"
    return {
        "account_sid": cv.core.account_sid,
        "sid": svc.sid,
        "friendly_name": svc.friendly_name,
        "date_created": iso(svc.date_created),
        "date_updated": iso(svc.date_updated),
        "url": base,
        "links": {
            "conversations": f"{base}/Conversations",
            "users": f"{base}/Users",
            "roles": f"{base}/Roles",
            "bindings": f"{base}/Bindings",
            "configuration": f"{base}/Configuration",
            "participant_conversations": f"{base}/ParticipantConversations",
        },
    }


# ------------------------------------------------------------ REST handlers
def _cv(req: Req) -> Conversations:
    return req.core.product(Conversations)


def _origin(req: Req) -> Origin:
    return Origin(source="API", fire=req.webhook_enabled, reason="API")


def _svc(req: Req) -> str | None:
    sid = req.path_params.get("ChatServiceSid")
    if sid is not None:
        _cv(req).service(sid)
    return sid


def _conv(req: Req, key: str) -> Conversation:
    svc = _svc(req)
    return _cv(req).get(req[key], svc)


def _in_conversation(req: Req) -> tuple[Conversations, Conversation, bool]:
    """The store, the conversation of a sub-resource path, and whether it was reached via /Services."""
    return _cv(req), _conv(req, "ConversationSid"), "ChatServiceSid" in req.path_params


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise bad_request(f"Invalid date {value}") from None


CONV_PATHS = ("/v1/Conversations", "/v1/Services/{ChatServiceSid}/Conversations")


@route("conversations", CONV_PATHS[0], "GET", "POST")
@route("conversations", CONV_PATHS[1], "GET", "POST")
def conversations(req: Req):
    cv = _cv(req)
    svc = _svc(req)
    via = svc is not None
    if req.method == "POST":
        conv = cv.create(
            service_sid=svc,
            friendly_name=req.get("FriendlyName"),
            unique_name=req.get("UniqueName"),
            attributes=req.get("Attributes"),
            state=req.get("State"),
            timers_inactive=req.get("Timers.Inactive"),
            timers_closed=req.get("Timers.Closed"),
            messaging_service_sid=req.get("MessagingServiceSid"),
            date_created=_timestamp(req.get("DateCreated")),
            origin=_origin(req),
        )
        return ok(conversation_json(cv, conv, via), 201)
    service_sid = svc or cv.default_service_sid
    items = [c for c in cv.conversations.values() if c.service_sid == service_sid]
    if req.get("State"):
        items = [c for c in items if c.state == req.get("State")]
    start, end = _timestamp(req.get("StartDate")), _timestamp(req.get("EndDate"))
    if start:
        items = [c for c in items if c.date_created >= start]
    if end:
        items = [c for c in items if c.date_created <= end + 86400]
    url = f"{CV}/Services/{svc}/Conversations" if via else f"{CV}/Conversations"
    return paginate(req, items, "conversations", url, lambda c: conversation_json(cv, c, via))


@route("conversations", "/v1/Conversations/{Sid}", "GET", "POST", "DELETE")
@route("conversations", "/v1/Services/{ChatServiceSid}/Conversations/{Sid}", "GET", "POST", "DELETE")
def conversation(req: Req):
    cv = _cv(req)
    conv = _conv(req, "Sid")
    via = "ChatServiceSid" in req.path_params
    if req.method == "DELETE":
        cv.delete(conv, _origin(req))
        return no_content()
    if req.method == "POST":
        cv.update(
            conv,
            friendly_name=req.get("FriendlyName"),
            unique_name=req.get("UniqueName"),
            attributes=req.get("Attributes"),
            state=req.get("State"),
            timers_inactive=req.get("Timers.Inactive"),
            timers_closed=req.get("Timers.Closed"),
            origin=_origin(req),
        )
    return ok(conversation_json(cv, conv, via))


PART = "/Participants"


@route("conversations", "/v1/Conversations/{ConversationSid}/Participants", "GET", "POST")
@route(
    "conversations",
    "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants",
    "GET",
    "POST",
)
def participants(req: Req):
    cv, conv, via = _in_conversation(req)
    if req.method == "POST":
        p = cv.add_participant(
            conv,
            identity=req.get("Identity"),
            address=req.get("MessagingBinding.Address"),
            proxy_address=req.get("MessagingBinding.ProxyAddress"),
            projected_address=req.get("MessagingBinding.ProjectedAddress"),
            attributes=req.get("Attributes"),
            role_sid=req.get("RoleSid"),
            origin=_origin(req),
        )
        return ok(participant_json(cv, conv, p, via), 201)
    url = f"{_conv_base(conv, via)}/Participants"
    return paginate(
        req,
        list(conv.participants.values()),
        "participants",
        url,
        lambda p: participant_json(cv, conv, p, via),
    )


@route("conversations", "/v1/Conversations/{ConversationSid}/Participants/{Sid}", "GET", "POST", "DELETE")
@route(
    "conversations",
    "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Participants/{Sid}",
    "GET",
    "POST",
    "DELETE",
)
def participant(req: Req):
    cv, conv, via = _in_conversation(req)
    p = cv.participant(conv, req["Sid"])
    if req.method == "DELETE":
        cv.remove_participant(conv, p, _origin(req))
        return no_content()
    if req.method == "POST":
        cv.update_participant(
            conv,
            p,
            attributes=req.get("Attributes"),
            identity=req.get("Identity"),
            last_read_index=req.get_int("LastReadMessageIndex"),
            origin=_origin(req),
        )
    return ok(participant_json(cv, conv, p, via))


@route("conversations", "/v1/Conversations/{ConversationSid}/Messages", "GET", "POST")
@route(
    "conversations", "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages", "GET", "POST"
)
def messages(req: Req):
    cv, conv, via = _in_conversation(req)
    if req.method == "POST":
        m = cv.add_message(
            conv,
            author=req.get("Author"),
            body=req.get("Body"),
            attributes=req.get("Attributes"),
            date_created=_timestamp(req.get("DateCreated")),
            origin=_origin(req),
        )
        return ok(message_json(cv, conv, m, via), 201)
    items = list(conv.messages)
    if req.get("Order") == "desc":
        items.reverse()
    url = f"{_conv_base(conv, via)}/Messages"
    return paginate(req, items, "messages", url, lambda m: message_json(cv, conv, m, via))


@route("conversations", "/v1/Conversations/{ConversationSid}/Messages/{Sid}", "GET", "POST", "DELETE")
@route(
    "conversations",
    "/v1/Services/{ChatServiceSid}/Conversations/{ConversationSid}/Messages/{Sid}",
    "GET",
    "POST",
    "DELETE",
)
def message(req: Req):
    cv, conv, via = _in_conversation(req)
    m = cv.message(conv, req["Sid"])
    if req.method == "DELETE":
        cv.remove_message(conv, m, _origin(req))
        return no_content()
    if req.method == "POST":
        cv.update_message(
            conv,
            m,
            author=req.get("Author"),
            body=req.get("Body"),
            attributes=req.get("Attributes"),
            origin=_origin(req),
        )
    return ok(message_json(cv, conv, m, via))


def _update_webhook_config(req: Req, cfg: WebhookConfig) -> None:
    if req.has("Method"):
        method = req.get("Method").upper()
        if method not in ("GET", "POST"):
            raise bad_request("Method must be GET or POST")
        cfg.method = method
    if req.has("Filters"):
        filters = [f for f in req.get_list("Filters") if f]
        unknown = [f for f in filters if f not in POST_EVENTS and not f.startswith("on")]
        if unknown:
            raise bad_request(f"Invalid Filters {unknown}")
        cfg.filters = filters
    if req.has("PreWebhookUrl"):
        cfg.pre_webhook_url = req.get("PreWebhookUrl") or None
    if req.has("PostWebhookUrl"):
        cfg.post_webhook_url = req.get("PostWebhookUrl") or None
    if req.has("Target"):
        cfg.target = req.get("Target")


@route("conversations", "/v1/Configuration/Webhooks", "GET", "POST")
def configuration_webhooks(req: Req):
    cv = _cv(req)
    if req.method == "POST":
        _update_webhook_config(req, cv.global_webhooks)
    g = cv.global_webhooks
    return ok(
        {
            "account_sid": cv.core.account_sid,
            "method": g.method,
            "filters": list(g.filters),
            "pre_webhook_url": g.pre_webhook_url,
            "post_webhook_url": g.post_webhook_url,
            "target": g.target,
            "url": f"{CV}/Configuration/Webhooks",
        }
    )


@route("conversations", "/v1/Services/{ChatServiceSid}/Configuration/Webhooks", "GET", "POST")
def service_webhooks(req: Req):
    cv = _cv(req)
    svc = cv.service(req["ChatServiceSid"])
    if req.method == "POST":
        _update_webhook_config(req, svc.webhooks)
    w = svc.webhooks
    return ok(
        {
            "account_sid": cv.core.account_sid,
            "chat_service_sid": svc.sid,
            "pre_webhook_url": w.pre_webhook_url,
            "post_webhook_url": w.post_webhook_url,
            "filters": list(w.filters),
            "method": w.method,
            "url": f"{CV}/Services/{svc.sid}/Configuration/Webhooks",
        }
    )


@route("conversations", "/v1/Configuration", "GET", "POST")
def configuration(req: Req):
    cv = _cv(req)
    if req.method == "POST":
        if req.has("DefaultChatServiceSid"):
            cv.default_service_sid = cv.service(req.get("DefaultChatServiceSid")).sid
        if req.has("DefaultMessagingServiceSid"):
            cv.default_messaging_service_sid = req.get("DefaultMessagingServiceSid")
        if req.has("DefaultInactiveTimer"):
            cv.default_inactive_timer = req.get("DefaultInactiveTimer") or None
        if req.has("DefaultClosedTimer"):
            cv.default_closed_timer = req.get("DefaultClosedTimer") or None
    return ok(
        {
            "account_sid": cv.core.account_sid,
            "default_chat_service_sid": cv.default_service_sid,
            "default_messaging_service_sid": cv.default_messaging_service_sid,
            "default_inactive_timer": cv.default_inactive_timer,
            "default_closed_timer": cv.default_closed_timer,
            "url": f"{CV}/Configuration",
            "links": {
                "service": f"{CV}/Services/{cv.default_service_sid}",
                "webhooks": f"{CV}/Configuration/Webhooks",
            },
        }
    )


@route("conversations", "/v1/Services", "GET", "POST")
def services(req: Req):
    cv = _cv(req)
    if req.method == "POST":
        return ok(service_json(cv, cv.create_service(req.get("FriendlyName"))), 201)
    return paginate(
        req, list(cv.services.values()), "services", f"{CV}/Services", lambda s: service_json(cv, s)
    )


@route("conversations", "/v1/Services/{Sid}", "GET", "DELETE")
def service(req: Req):
    cv = _cv(req)
    svc = cv.service(req["Sid"])
    if req.method == "DELETE":
        if svc.sid == cv.default_service_sid:
            raise bad_request("Cannot delete the default Conversation Service")
        for conv in [c for c in cv.conversations.values() if c.service_sid == svc.sid]:
            del cv.conversations[conv.sid]
        del cv.services[svc.sid]
        return no_content()
    return ok(service_json(cv, svc))


@route("conversations", "/v1/Services/{ChatServiceSid}/Configuration", "GET", "POST")
def service_configuration(req: Req):
    cv = _cv(req)
    svc = cv.service(req["ChatServiceSid"])
    if req.method == "POST" and req.has("ReachabilityEnabled"):
        svc.reachability_enabled = bool(req.get_bool("ReachabilityEnabled"))
    base = f"{CV}/Services/{svc.sid}/Configuration"
    return ok(
        {
            "chat_service_sid": svc.sid,
            "default_conversation_creator_role_sid": svc.participant_role_sid,
            "default_conversation_role_sid": svc.participant_role_sid,
            "default_chat_service_role_sid": svc.participant_role_sid,
            "url": base,
            "links": {"notifications": f"{base}/Notifications", "webhooks": f"{base}/Webhooks"},
            "reachability_enabled": svc.reachability_enabled,
        }
    )
