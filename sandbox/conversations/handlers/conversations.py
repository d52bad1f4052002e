"""REST: conversations, their participants and messages (also under /Services/{IS})."""

from __future__ import annotations

from ...rest import Req, no_content, ok, paginate
from ..model import CV
from ..render import conversation_json, conversation_url, message_json, participant_json
from .common import (
    conversation_of,
    conversations_of,
    conversations_route,
    in_conversation,
    origin_of,
    service_sid_of,
    timestamp,
)


@conversations_route("", "GET", "POST")
def conversations(req: Req):
    cv = conversations_of(req)
    svc = service_sid_of(req)
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
            date_created=timestamp(req.get("DateCreated")),
            origin=origin_of(req),
        )
        return ok(conversation_json(cv, conv, via), 201)
    service_sid = svc or cv.default_service_sid
    items = [c for c in cv.conversations.values() if c.service_sid == service_sid]
    if req.get("State"):
        items = [c for c in items if c.state == req.get("State")]
    start, end = timestamp(req.get("StartDate")), timestamp(req.get("EndDate"))
    if start:
        items = [c for c in items if c.date_created >= start]
    if end:
        items = [c for c in items if c.date_created <= end + 86400]
    url = f"{CV}/Services/{svc}/Conversations" if via else f"{CV}/Conversations"
    return paginate(req, items, "conversations", url, lambda c: conversation_json(cv, c, via))


@conversations_route("/{Sid}", "GET", "POST", "DELETE")
def conversation(req: Req):
    cv = conversations_of(req)
    conv = conversation_of(req, "Sid")
    via = "ChatServiceSid" in req.path_params
    if req.method == "DELETE":
        cv.delete(conv, origin_of(req))
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
            origin=origin_of(req),
        )
    return ok(conversation_json(cv, conv, via))


@conversations_route("/{ConversationSid}/Participants", "GET", "POST")
def participants(req: Req):
    cv, conv, via = in_conversation(req)
    if req.method == "POST":
        p = cv.add_participant(
            conv,
            identity=req.get("Identity"),
            address=req.get("MessagingBinding.Address"),
            proxy_address=req.get("MessagingBinding.ProxyAddress"),
            projected_address=req.get("MessagingBinding.ProjectedAddress"),
            attributes=req.get("Attributes"),
            role_sid=req.get("RoleSid"),
            origin=origin_of(req),
        )
        return ok(participant_json(cv, conv, p, via), 201)
    url = f"{conversation_url(conv, via)}/Participants"
    return paginate(
        req,
        list(conv.participants.values()),
        "participants",
        url,
        lambda p: participant_json(cv, conv, p, via),
    )


@conversations_route("/{ConversationSid}/Participants/{Sid}", "GET", "POST", "DELETE")
def participant(req: Req):
    cv, conv, via = in_conversation(req)
    p = cv.participant(conv, req["Sid"])
    if req.method == "DELETE":
        cv.remove_participant(conv, p, origin_of(req))
        return no_content()
    if req.method == "POST":
        cv.update_participant(
            conv,
            p,
            attributes=req.get("Attributes"),
            identity=req.get("Identity"),
            last_read_index=req.get_int("LastReadMessageIndex"),
            origin=origin_of(req),
        )
    return ok(participant_json(cv, conv, p, via))


@conversations_route("/{ConversationSid}/Messages", "GET", "POST")
def messages(req: Req):
    cv, conv, via = in_conversation(req)
    if req.method == "POST":
        m = cv.add_message(
            conv,
            author=req.get("Author"),
            body=req.get("Body"),
            attributes=req.get("Attributes"),
            date_created=timestamp(req.get("DateCreated")),
            origin=origin_of(req),
        )
        return ok(message_json(cv, conv, m, via), 201)
    items = list(conv.messages)
    if req.get("Order") == "desc":
        items.reverse()
    url = f"{conversation_url(conv, via)}/Messages"
    return paginate(req, items, "messages", url, lambda m: message_json(cv, conv, m, via))


@conversations_route("/{ConversationSid}/Messages/{Sid}", "GET", "POST", "DELETE")
def message(req: Req):
    cv, conv, via = in_conversation(req)
    m = cv.message(conv, req["Sid"])
    if req.method == "DELETE":
        cv.remove_message(conv, m, origin_of(req))
        return no_content()
    if req.method == "POST":
        cv.update_message(
            conv,
            m,
            author=req.get("Author"),
            body=req.get("Body"),
            attributes=req.get("Attributes"),
            origin=origin_of(req),
        )
    return ok(message_json(cv, conv, m, via))
