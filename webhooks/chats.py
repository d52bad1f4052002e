"""`GET /chats/<conversationSid>` (issue 16): the chat as the service tracks it, for the agents'
Flex plugin — its tasks, the agents in it, the transfers being set up, ended or not and why."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webhooks.browser import Missing, authenticate, browser_endpoint, ext, flex_token
from webhooks.validation import is_sid
from worker.adapters.conversation_store import ConversationStore
from worker.domain.chat_view import chat_for_agents, may_read
from worker.domain.errors import Forbidden, InvalidInput

bp = Blueprint("chats", __name__)


@bp.get("/chats/<conversation_sid>")
@browser_endpoint("chats")
def get_chat(conversation_sid: str) -> Response:
    if not is_sid(conversation_sid, "CH"):
        raise InvalidInput("conversationSid", "conversationSid must be a CH sid")
    identity = authenticate(flex_token())
    store: ConversationStore = ext("store")
    state = store.load(conversation_sid)
    if state is None:
        raise Missing(f"the service never tracked {conversation_sid}", "conversationSid")
    if not may_read(state, identity.worker_sid, is_supervisor=identity.is_supervisor):
        raise Forbidden("only an agent in the chat, or a supervisor, may read it", reason="not_in_chat")
    return jsonify(chat_for_agents(state))
