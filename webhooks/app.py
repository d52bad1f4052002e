"""The Flask application factory of the receiver."""

from __future__ import annotations

import logging
import os

import redis
from flask import Flask, Response
from flask_cors import CORS
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from webhooks.browser import CORS_HEADERS, CORS_PATHS
from webhooks.browser_guard import SLOTS_ENV, BrowserGuard, BrowserSlots
from webhooks.chats import bp as chats_bp
from webhooks.event_streams import bp as event_streams_bp
from webhooks.intake import EventIntake
from webhooks.leave import bp as leave_bp
from webhooks.routes import bp, json_error
from webhooks.signature import SignatureCheck
from webhooks.transfers import bp as transfers_bp
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.flex_tokens import FlexTokenValidator
from worker.adapters.intake_dedupe import IntakeDedupe
from worker.adapters.redis_clients import redis_client as build_redis_client
from worker.adapters.task_queue import CeleryTaskQueue, TaskQueue
from worker.adapters.transfer_store import TransferStore
from worker.adapters.twilio_gateway import TwilioGateway
from worker.settings import Settings, load_settings_or_exit

log = logging.getLogger("chat_transfer.web")


def create_app(
    settings: Settings | None = None,
    *,
    redis_client: redis.Redis | None = None,
    task_queue: TaskQueue | None = None,
    gateway: TwilioGateway | None = None,
) -> Flask:
    """Build the receiver. Tests pass their own Redis client and queue; production builds both."""
    settings = settings or load_settings_or_exit()
    app = Flask("webhooks", static_folder=None)  # the receiver serves no files
    app.config["MAX_BODY_BYTES"] = settings.max_body_bytes
    # Flask refuses larger bodies outright; the view answers the documented 400 first.
    app.config["MAX_CONTENT_LENGTH"] = max(settings.max_body_bytes, settings.event_streams_max_body_bytes) * 2

    if redis_client is None:
        redis_client = build_redis_client(
            settings, socket_timeout=2, socket_connect_timeout=2, health_check_interval=10
        )
    if task_queue is None:
        from worker.celery_app import app as celery_app

        task_queue = CeleryTaskQueue(celery_app, redis_client, settings.state_redis_target)

    app.extensions["chat_transfer.settings"] = settings
    app.extensions["chat_transfer.redis"] = redis_client
    app.extensions["chat_transfer.intake"] = EventIntake.for_broker(
        IntakeDedupe(redis_client, settings.dedupe_ttl_seconds), task_queue, settings.state_redis_target
    )
    app.extensions["chat_transfer.signature"] = SignatureCheck(
        settings.twilio_auth_token.get_secret_value(), settings.public_base_url
    )
    app.extensions["chat_transfer.queue"] = task_queue
    app.extensions["chat_transfer.store"] = ConversationStore(
        redis_client, settings.conversation_ttl_after_end_seconds
    )
    app.extensions["chat_transfer.transfers"] = TransferStore(redis_client)
    app.extensions["chat_transfer.gateway"] = gateway or TwilioGateway(settings)
    app.extensions["chat_transfer.tokens"] = FlexTokenValidator(settings, redis_client)
    app.extensions["chat_transfer.browser_guard"] = BrowserGuard(
        redis_client, settings.browser_rate_limit, BrowserSlots(os.environ.get(SLOTS_ENV))
    )
    app.register_blueprint(bp)
    app.register_blueprint(transfers_bp)
    app.register_blueprint(chats_bp)
    app.register_blueprint(event_streams_bp)
    app.register_blueprint(leave_bp)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    browser = {"origins": origins, "allow_headers": CORS_HEADERS, "max_age": 600}
    CORS(app, resources=dict.fromkeys(CORS_PATHS, browser))
    if settings.trusted_proxy_count:  # the browser's address, for its rate limit
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxy_count)  # type: ignore[method-assign]
    _register_error_handlers(app)
    return app


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_error: RequestEntityTooLarge) -> Response:
        return json_error(400, "body is too large", "body")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return json_error(error.code or 500, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return json_error(500, "internal error")
