"""REST: interactions, their channels, invites and participants."""

from __future__ import annotations

from ..core import parse_json_param
from ..errors import not_found
from ..rest import Req, ok, paginate, route
from .engine import Flex
from .model import FX, InteractionParticipant
from .render import channel_json, channel_url, interaction_json, invite_json, participant_json


def flex_of(req: Req) -> Flex:
    return req.core.product(Flex)


CH = "/v1/Interactions/{InteractionSid}/Channels"


@route("flex-api", "/v1/Interactions", "POST")
def create_interaction(req: Req):
    fx = flex_of(req)
    channel = parse_json_param(req.get("Channel"), "Channel")
    routing = parse_json_param(req.get("Routing"), "Routing")
    inter = fx.create_interaction(channel, routing, req.get("InteractionContextSid"), req.get("WebhookTtid"))
    return ok(interaction_json(inter))


@route("flex-api", "/v1/Interactions/{Sid}", "GET", "POST")
def interaction(req: Req):
    fx = flex_of(req)
    inter = fx.interactions.get(req["Sid"])
    if inter is None:
        raise not_found(f"The requested resource /Interactions/{req['Sid']} was not found")
    if req.method == "POST" and req.has("WebhookTtid"):
        inter.webhook_ttid = req.get("WebhookTtid")
    return ok(interaction_json(inter))


@route("flex-api", CH, "GET")
def channels(req: Req):
    fx = flex_of(req)
    if req["InteractionSid"] not in fx.interactions:
        raise not_found(f"Interaction {req['InteractionSid']} not found")
    items = [c for c in fx.channels.values() if c.interaction_sid == req["InteractionSid"]]
    return paginate(
        req, items, "channels", f"{FX}/Interactions/{req['InteractionSid']}/Channels", channel_json
    )


@route("flex-api", f"{CH}/{{Sid}}", "GET", "POST")
def channel(req: Req):
    fx = flex_of(req)
    ch = fx.channel(req["InteractionSid"], req["Sid"])
    if req.method == "POST":
        fx.update_channel(ch, req.get("Status"), parse_json_param(req.get("Routing"), "Routing"))
    return ok(channel_json(ch))


@route("flex-api", f"{CH}/{{ChannelSid}}/Invites", "GET", "POST")
def invites(req: Req):
    fx = flex_of(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    if req.method == "POST":
        inv = fx.invite(ch, parse_json_param(req.get("Routing"), "Routing"))
        return ok(invite_json(ch, inv))
    url = f"{channel_url(ch)}/Invites"
    return paginate(req, list(ch.invites), "invites", url, lambda i: invite_json(ch, i))


@route("flex-api", f"{CH}/{{ChannelSid}}/Participants", "GET", "POST")
def participants(req: Req):
    fx = flex_of(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    if req.method == "POST":
        media = parse_json_param(req.get("MediaProperties"), "MediaProperties", {})
        part = InteractionParticipant(fx.core.sid("UT"), req.get("Type"), None, (media or {}).get("identity"))
        ch.participants[part.sid] = part
        return ok(participant_json(ch, part))
    url = f"{channel_url(ch)}/Participants"
    return paginate(
        req, list(ch.participants.values()), "participants", url, lambda p: participant_json(ch, p)
    )


@route("flex-api", f"{CH}/{{ChannelSid}}/Participants/{{Sid}}", "POST")
def participant(req: Req):
    fx = flex_of(req)
    ch = fx.channel(req["InteractionSid"], req["ChannelSid"])
    part = ch.participants.get(req["Sid"])
    if part is None:
        raise not_found(f"Participant {req['Sid']} not found")
    fx.update_participant(ch, part, req.get("Status"))
    return ok(participant_json(ch, part))
