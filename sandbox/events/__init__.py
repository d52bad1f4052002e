"""Event Streams (Events v1): sinks, subscriptions, subscribed events, types and schemas, and the
delivery of subscribed TaskRouter and Conversations events to webhook sinks as batches of
CloudEvents.

Modules: `model` (sinks, subscriptions), `catalogue` (the event types and their schemas),
`cloudevents` (the CloudEvent each event becomes), `streams` (`EventStreams`: a subscriber to
TaskRouter's `EventPublished` and Conversations' `ConversationsEvent` that batches per sink on
every `Tick`), `delivery` (`SinkDeliverer`: signed POSTs, retried with backoff), `render` (REST
shapes), `handlers` (REST).
"""

from . import handlers  # noqa: F401  (registers the REST handlers)
from .delivery import SinkDeliverer, SinkDelivery, signed_request
from .streams import EventStreams

__all__ = ["EventStreams", "SinkDeliverer", "SinkDelivery", "signed_request"]
