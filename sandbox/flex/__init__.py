"""Flex: the Interactions API, the Flex token check, who joins a chat on accept, and the agent's
own actions in the Flex UI.

Modules: `model` (interactions, channels, invites, participants), `engine` (`Flex`: the
Interactions API), `tokens` (the token check), `orchestration` (a subscriber to TaskRouter's
`ReservationAccepted`: who joins), `desktop` (`AgentDesktop`: End chat, Leave, Flex's Leave and
Pause, Park; `Resumption`: what happens when the customer of a chat left open writes again),
`render` (REST shapes), `handlers` (REST).

* ``POST /v1/Interactions`` (Channel, Routing JSON) makes a channel ``UO`` on a conversation (the
  given ``properties.media_channel_sid`` or a new one) and a routed task whose attributes carry
  ``flexInteractionSid``, ``flexInteractionChannelSid`` and ``conversationSid``;
* ``.../Channels/{UO}`` update ``Status=closed`` cancels the channel's tasks not yet assigned,
  moves assigned ones to wrapping (``Routing={"status":"closed"}``: completes them) and closes the
  conversation; ``Status=inactive`` (Routing status closed) completes the tasks, takes the agents
  out and leaves the conversation open (inactive);
* ``.../Invites`` create a new routed task for the same channel (attributes: the given ones, the
  interaction's, ``flexChannelInviteSid``); its agent joins on accept;
* ``.../Participants`` list the customer and the agents who joined; ``wrapup`` moves an agent's
  task to wrapping and takes them out of the conversation, ``closed`` completes it and takes them
  out of the conversation and the channel;
* ``POST iam /v1/Accounts/{AC}/Tokens/validate`` answers for the tokens a test registers
  (`Flex.register_token`); unknown or expired tokens get ``valid: false`` (HTTP 200, as Twilio's
  validator endpoint does).

A task wrapped up or completed through TaskRouter changes nothing in the chat (Flex's chat
orchestration runs in the Flex UI on the agent's own action); sources for each behaviour are in
``sandbox/README.md``.
"""

from . import handlers  # noqa: F401  (registers the REST handlers)
from .desktop import AgentDesktop, Resumption
from .engine import Flex
from .model import OrchestrationFlags, worker_identity
from .orchestration import Orchestration
from .render import channel_json
from .tokens import validate_token_request

__all__ = [
    "AgentDesktop",
    "Flex",
    "Orchestration",
    "OrchestrationFlags",
    "Resumption",
    "channel_json",
    "validate_token_request",
    "worker_identity",
]
