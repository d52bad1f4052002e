"""What a change in a conversation publishes on the shared bus: a `ConversationsEvent` named
as its webhook is (onConversationAdded, onMessageAdded...) with the event's own fields."""

from __future__ import annotations

from dataclasses import dataclass

from ..clock import iso_ms
from .model import Conversation, Message, Origin, Participant


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


def conversation_fields(conv: Conversation) -> dict[str, str]:
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


def participant_fields(p: Participant) -> dict[str, str]:
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


def message_fields(m: Message) -> dict[str, str]:
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
