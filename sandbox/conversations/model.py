"""Conversations' resources as the sandbox keeps them, and who made a change (`Origin`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CONVERSATION_CLOSED, TwilioError

CV = "https://conversations.twilio.com/v1"
STATES = ("initializing", "inactive", "active", "closed")
POST_EVENTS = [
    "onConversationAdded",
    "onConversationUpdated",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdded",
    "onParticipantUpdated",
    "onParticipantRemoved",
    "onMessageAdded",
    "onMessageUpdated",
    "onMessageRemoved",
]


@dataclass
class WebhookConfig:
    method: str = "POST"
    filters: list[str] = field(default_factory=list)
    pre_webhook_url: str | None = None
    post_webhook_url: str | None = None
    target: str = "webhook"


@dataclass
class Service:
    sid: str
    friendly_name: str
    date_created: float
    date_updated: float
    participant_role_sid: str
    webhooks: WebhookConfig = field(default_factory=WebhookConfig)
    reachability_enabled: bool = False


@dataclass
class Participant:
    sid: str
    conversation_sid: str
    identity: str | None
    attributes: str
    messaging_binding: dict | None
    role_sid: str
    date_created: float
    date_updated: float
    last_read_message_index: int | None = None
    last_read_timestamp: str | None = None


@dataclass
class Message:
    sid: str
    conversation_sid: str
    index: int
    author: str
    body: str | None
    attributes: str
    participant_sid: str | None
    date_created: float
    date_updated: float


@dataclass
class Conversation:
    sid: str
    service_sid: str
    messaging_service_sid: str
    friendly_name: str | None
    unique_name: str | None
    attributes: str
    state: str
    date_created: float
    date_updated: float
    inactive_after: float | None = None
    closed_after: float | None = None
    last_activity: float = 0.0
    participants: dict[str, Participant] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    next_index: int = 0

    @property
    def date_inactive(self) -> float | None:
        return self.last_activity + self.inactive_after if self.inactive_after else None

    @property
    def date_closed(self) -> float | None:
        return self.last_activity + self.closed_after if self.closed_after else None

    def armed_timers(self) -> list[tuple[float, str]]:
        """(when, the state it moves to) of each timer that can still fire, the closed timer first:
        it wins when both are due. Only an active conversation goes inactive."""
        if self.state == "closed":
            return []
        timers = []
        if self.date_closed is not None:
            timers.append((self.date_closed, "closed"))
        if self.state == "active" and self.date_inactive is not None:
            timers.append((self.date_inactive, "inactive"))
        return timers


def writable(conv: Conversation) -> None:
    """A closed conversation is final: Twilio refuses any change with 50377."""
    if conv.state == "closed":
        raise TwilioError(400, CONVERSATION_CLOSED, "Can't update conversation as it's in final closed state")


@dataclass
class Origin:
    """Who made a change: REST (fires only with the header), SDK user, Flex, timer."""

    source: str = "API"  # Source field: API or SDK
    fire: bool = True
    client_identity: str | None = None
    reason: str = "API"  # onConversationStateUpdated Reason: API, TIMER, EVENT
