"""Flex: the Interactions API, the Flex token check, and the chat orchestration
Flex performs on TaskRouter events.

Modules: `model` (interactions, channels, invites, participants), `engine` (`Flex`: the
Interactions API), `tokens` (the token check), `orchestration` (a subscriber to TaskRouter's
task changes), `render` (REST shapes), `handlers` (REST).

* ``POST /v1/Interactions`` (Channel, Routing JSON) makes a channel ``UO`` on a
  conversation (the given ``properties.media_channel_sid`` or a new one) and a routed
  task whose attributes carry ``flexInteractionSid``, ``flexInteractionChannelSid`` and
  ``conversationSid``;
* ``.../Channels/{UO}`` update ``Status=closed`` moves the channel's tasks to wrapping
  (``Routing={"status":"closed"}``: completes them), cancels the ones not yet assigned,
  and closes the conversation; ``Status=inactive`` (needs Routing status closed)
  completes the tasks and makes the conversation inactive;
* ``.../Invites`` create a new routed task for the same channel (attributes also carry
  ``flexChannelInviteSid``);
* ``.../Participants`` list the customer and the agents who accepted; updating an agent
  to ``wrapup`` moves their task to wrapping, to ``closed`` completes it and takes
  them out of the channel;
* ``POST iam /v1/Accounts/{AC}/Tokens/validate`` answers for the tokens a test
  registers (`Flex.register_token`); unknown or expired tokens get ``valid: false``
  (HTTP 200, as Twilio's validator endpoint does).

Orchestration (each switchable on the Sandbox): when an agent accepts a reservation on
a task naming a conversation, they are added to it as a participant (identity: the
worker's ``contact_uri`` without ``client:``) and, for an interaction task, as an agent
interaction participant; when that task goes to wrapping (or is completed) they are
removed, unless another live task of theirs is on the same conversation.
"""

from . import handlers  # noqa: F401  (registers the REST handlers)
from .engine import Flex
from .model import OrchestrationFlags, worker_identity
from .orchestration import Orchestration
from .tokens import validate_token_request

__all__ = ["Flex", "Orchestration", "OrchestrationFlags", "validate_token_request", "worker_identity"]
