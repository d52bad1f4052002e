"""The post-event webhook: a subscriber to `ConversationsEvent`. A change fires it when its
origin does (REST only with ``X-Twilio-Webhook-Enabled: true``), to the conversation's
service's PostWebhookUrl or else the global one (target ``webhook``), when its Filters name
the event."""

from __future__ import annotations

from collections.abc import Callable

from ..core import Core
from .events import ConversationsEvent
from .model import Conversation, Origin, WebhookConfig


class PostEventWebhook:
    def __init__(self, core: Core, target_of: Callable[[Conversation], WebhookConfig | None]) -> None:
        self.core = core
        self.target_of = target_of
        core.subscribe(ConversationsEvent, self.on_event)

    def on_event(self, event: ConversationsEvent) -> None:
        """Sent for a change the origin fires for, to the service's or the global target, when
        its Filters name the event."""
        conv, origin = event.conversation, event.origin
        if not origin.fire:
            return
        target = self.target_of(conv)
        if target is None or event.event_type not in target.filters:
            return
        payload = self._common_fields(conv, event.event_type, origin)
        if event.minimal:  # onConversationStateUpdated carries no Source/ClientIdentity
            payload.pop("Source", None)
            payload.pop("ClientIdentity", None)
        payload.update(event.fields)
        self.core.deliver("conversations", target.post_webhook_url, payload, target.method)

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
