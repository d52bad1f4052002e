"""`Conversations`: services, conversations, participants, messages and their timers. Each
change publishes a `ConversationsEvent`; the post-event webhook is its subscriber."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..clock import iso, iso_ms, parse_iso_duration
from ..core import Core, Tick, parse_attributes
from ..errors import INITIAL_STATE_CLOSED, PARTICIPANT_EXISTS, TwilioError, bad_request, not_found
from .events import ConversationsEvent, conversation_fields, message_fields, participant_fields
from .model import STATES, Conversation, Message, Origin, Participant, Service, WebhookConfig, writable
from .webhooks import PostEventWebhook

Found = TypeVar("Found")


class Conversations:
    def __init__(self, core: Core) -> None:
        self.core = core
        core.register(self)
        self.post_event_webhook = PostEventWebhook(core, self.webhook_target)
        core.subscribe(Tick, lambda _tick: self.tick())
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
        conv = _by_sid_or_name(self.conversations, sid_or_name, lambda c: c.unique_name)
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
        self._fire(conv, "onConversationAdded", conversation_fields(conv), origin)
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
        writable(conv)
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
        self._fire(conv, "onConversationUpdated", conversation_fields(conv), origin)
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
        fields = conversation_fields(conv)
        fields["DateRemoved"] = iso_ms(self.core.now())
        self._fire(conv, "onConversationRemoved", fields, origin)
        del self.conversations[conv.sid]
        self.core.notify()

    # --------------------------------------------------------- participants
    def participant(self, conv: Conversation, sid_or_identity: str) -> Participant:
        p = _by_sid_or_name(conv.participants, sid_or_identity, lambda x: x.identity)
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
        writable(conv)
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
        self._fire(conv, "onParticipantAdded", participant_fields(p), origin)
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
        writable(conv)
        if attributes is not None:
            p.attributes = parse_attributes(attributes)
        if identity is not None:
            p.identity = identity
        if last_read_index is not None:
            p.last_read_message_index = last_read_index
            p.last_read_timestamp = iso(self.core.now())
        p.date_updated = self.core.now()
        self._fire(conv, "onParticipantUpdated", participant_fields(p), origin)
        return p

    def remove_participant(self, conv: Conversation, p: Participant, origin: Origin | None = None) -> None:
        origin = origin or Origin()
        writable(conv)
        del conv.participants[p.sid]
        p.date_updated = self.core.now()
        fields = participant_fields(p)
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
        writable(conv)
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
        self._fire(conv, "onMessageAdded", message_fields(msg), origin)
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
        writable(conv)
        if author is not None:
            msg.author = author
        if body is not None:
            msg.body = body
        if attributes is not None:
            msg.attributes = parse_attributes(attributes)
        msg.date_updated = self.core.now()
        self._fire(conv, "onMessageUpdated", message_fields(msg), origin)
        return msg

    def remove_message(self, conv: Conversation, msg: Message, origin: Origin | None = None) -> None:
        origin = origin or Origin()
        writable(conv)
        conv.messages.remove(msg)
        self._fire(conv, "onMessageRemoved", message_fields(msg), origin)

    # ---------------------------------------------------------------- timers
    def tick(self) -> None:
        now = self.core.now()
        timer = Origin(source="API", fire=True, reason="TIMER")
        for conv in list(self.conversations.values()):
            due = next((state for when, state in conv.armed_timers() if when <= now), None)
            if due is not None:
                previous, conv.state = conv.state, due
                conv.date_updated = now
                self._state_changed(conv, previous, timer)

    # -------------------------------------------------------------- webhooks
    def webhook_target(self, conv: Conversation) -> WebhookConfig | None:
        svc = self.services.get(conv.service_sid)
        if svc and svc.webhooks.post_webhook_url:
            return svc.webhooks
        g = self.global_webhooks
        if g.target == "webhook" and g.post_webhook_url:
            return g
        return None

    def _fire(self, conv: Conversation, event_type: str, fields: dict, origin: Origin, minimal=False) -> None:
        self.core.publish(ConversationsEvent(event_type, conv, fields, origin, minimal))


def _by_sid_or_name(
    items: dict[str, Found], key: str, name_of: Callable[[Found], str | None]
) -> Found | None:
    """Twilio fetches a conversation by SID or unique name, a participant by SID or identity."""
    found = items.get(key)
    if found is None:
        found = next((item for item in items.values() if name_of(item) == key), None)
    return found
