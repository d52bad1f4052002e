"""Conversations resources in the shapes of Twilio's OpenAPI description."""

from __future__ import annotations

from ..clock import iso
from .model import CV, Conversation, Message, Participant, Service
from .store import Conversations


def conversation_url(conv: Conversation, via_service: bool) -> str:
    if via_service:
        return f"{CV}/Services/{conv.service_sid}/Conversations/{conv.sid}"
    return f"{CV}/Conversations/{conv.sid}"


def conversation_json(cv: Conversations, conv: Conversation, via_service: bool = False) -> dict:
    base = conversation_url(conv, via_service)
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
        "url": f"{conversation_url(conv, via_service)}/Participants/{p.sid}",
        "last_read_message_index": p.last_read_message_index,
        "last_read_timestamp": p.last_read_timestamp,
    }
    if via_service:
        out["chat_service_sid"] = conv.service_sid
    return out


def message_json(cv: Conversations, conv: Conversation, m: Message, via_service: bool = False) -> dict:
    url = f"{conversation_url(conv, via_service)}/Messages/{m.sid}"
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
