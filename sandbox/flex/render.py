"""Flex Interactions resources in the shapes of Twilio's OpenAPI description."""

from __future__ import annotations

from .model import FX, Interaction, InteractionChannel, InteractionParticipant, Invite


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


def channel_url(ch: InteractionChannel) -> str:
    return f"{FX}/Interactions/{ch.interaction_sid}/Channels/{ch.sid}"


def channel_json(ch: InteractionChannel) -> dict:
    url = channel_url(ch)
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
        "url": f"{channel_url(ch)}/Invites/{inv.sid}",
    }


def participant_json(ch: InteractionChannel, p: InteractionParticipant) -> dict:
    return {
        "sid": p.sid,
        "type": p.type,
        "interaction_sid": ch.interaction_sid,
        "channel_sid": ch.sid,
        "url": f"{channel_url(ch)}/Participants/{p.sid}",
        "routing_properties": p.routing_properties,
    }
