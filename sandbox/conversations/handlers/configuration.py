"""REST: webhook configuration (global and per service), the account's Conversations
configuration, services."""

from __future__ import annotations

from ...errors import bad_request
from ...rest import Req, no_content, ok, paginate, route
from ..model import CV, POST_EVENTS, WebhookConfig
from ..render import service_json
from .common import conversations_of


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
    cv = conversations_of(req)
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
    cv = conversations_of(req)
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
    cv = conversations_of(req)
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
    cv = conversations_of(req)
    if req.method == "POST":
        return ok(service_json(cv, cv.create_service(req.get("FriendlyName"))), 201)
    return paginate(
        req, list(cv.services.values()), "services", f"{CV}/Services", lambda s: service_json(cv, s)
    )


@route("conversations", "/v1/Services/{Sid}", "GET", "DELETE")
def service(req: Req):
    cv = conversations_of(req)
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
    cv = conversations_of(req)
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
