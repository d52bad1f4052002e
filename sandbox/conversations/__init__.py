"""Conversations: services, conversations, participants, messages, the webhook
configuration (global and per service) and the post-event webhook.

Modules: `model` (the resources, `Origin`), `store` (`Conversations`: the changes and timers),
`events` (the `ConversationsEvent` each change publishes, with its fields), `webhooks` (the
post-event webhook, a subscriber), `render` (REST shapes), `handlers` (REST).

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

from . import handlers  # noqa: F401  (registers the REST handlers)
from .events import ConversationsEvent
from .model import POST_EVENTS, Conversation, Message, Origin, Participant, Service, WebhookConfig
from .render import conversation_json, message_json, participant_json, service_json
from .store import Conversations

__all__ = [
    "POST_EVENTS",
    "Conversation",
    "Conversations",
    "ConversationsEvent",
    "Message",
    "Origin",
    "Participant",
    "Service",
    "WebhookConfig",
    "conversation_json",
    "message_json",
    "participant_json",
    "service_json",
]
