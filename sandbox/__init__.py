"""A stateful, faithful stand-in for the parts of Twilio flex-chat-transfer uses.

TaskRouter, Conversations, Flex Interactions, Event Streams and the Flex token check, served over HTTP
in the ``TWILIO_API_BASE_URL`` layout: what the ``twilio`` library would send to
``https://{product}.twilio.com/{path}`` goes to ``{base_url}/{product}/{path}``
(products ``taskrouter``, ``conversations``, ``flex-api``, ``events``, ``iam``).  Answers have the
shapes of Twilio's OpenAPI descriptions (vendored beside this file); every request is
checked against them.  Which behaviours are modelled, and which are not, is tabled in
``sandbox/README.md``, with the layout: the products (``taskrouter/``, ``conversations/``,
``flex/``, ``events/``) depend on one shared state object (``core.Core``: lock, clock, SIDs, account, the
products and the bus their messages travel on) and tell each other what happened through it.

In-process (tests, the demo)::

    from sandbox import Sandbox

    with Sandbox(seed=1) as sb:                       # serves on a free port
        setup = sb.seed_flex(
            queues={"Sales": "routing.skills HAS 'sales'"},
            workers=[{"name": "alice", "skills": ["sales"]}, {"name": "bob"}],
            event_callback_url="http://127.0.0.1:8000/webhooks/taskrouter",
            conversations_webhook_url="http://127.0.0.1:8000/webhooks/conversations",
        )
        # point the service at sb.base_url, sb.account_sid, sb.auth_token,
        # setup.workspace_sid, setup.chat_transfer_workflow_sid
        chat = sb.start_chat("carla", first_message="Hi")    # conversation + task
        sb.accept_task(chat.task_sid)                         # the agent accepts
        sb.agent_message(chat.conversation_sid, setup.workers["alice"], "Hello!")
        sb.wrapup(chat.task_sid); sb.complete(chat.task_sid)
        sb.wait_idle()                                        # webhooks delivered
        sb.assert_faithful()                                  # nothing Twilio would reject

By command line: ``python -m sandbox --port 8765 --seed-flex`` (`cli_main(argv)` /
`serve(host, port, **options)`), which prints the base URL, account SID and auth token.

The Python API (all methods are thread-safe):

Serving
    ``Sandbox(account_sid=None, auth_token=None, seed=0, frozen_clock=False,
    flex_orchestration=True, release_capacity_on_wrapup=False, task_retention=300.0,
    max_assignment_count=100, webhook_timeout=15.0, event_streams_batch_size=20,
    event_streams_backoff=(0.5, 8.0))``; ``start(host="127.0.0.1", port=0) -> base_url``;
    ``stop()``; context manager; ``base_url``, ``account_sid``, ``auth_token``;
    ``app`` (the WSGI app); ``add_api_key(sid=None, secret=None) -> (sid, secret)``.
Seeding
    ``seed_flex(queues=, workers=, event_callback_url=, events_filter=,
    conversations_webhook_url=, conversations_filters=, reservation_timeout=120,
    transfer_target_timeout=None) -> FlexSetup`` (workspace, queue "Everyone" + yours,
    workflows "Assign to Anyone" and "Chat Transfer" as the Flex project template
    builds it, workers with tokens); ``create_workspace``, ``add_queue``,
    ``add_workflow``, ``add_worker(name, full_name=, public_identity=, skills=,
    activity="Available", chat_capacity=2, attributes=, roles=("agent",), token=)``;
    ``set_event_callback(url, events_filter=None)``; ``set_conversations_webhook(url,
    filters=None, method="POST", service_sid=None)``; ``register_token(worker_sid,
    token=None, roles=("agent",), ttl=3600)``; ``token_for(worker_sid)``.
Customers
    ``start_chat(customer, first_message=, attributes=, channel_type="web",
    interactions=False, workflow_sid=None, task_channel="chat", priority=, timeout=)
    -> Chat``; ``customer_message(conversation_sid, body)``;
    ``close_conversation(conversation_sid, state="closed")``;
    ``customer_leave(conversation_sid, close=True)``.
Agents
    ``set_activity(worker_sid, "Available")``; ``reservations(task_sid=, worker_sid=,
    status=)``; ``pending_reservation(task_sid=, worker_sid=, timeout=5)``;
    ``accept(reservation_sid)``; ``reject(reservation_sid, activity=None)``;
    ``time_out(reservation_sid)``; ``accept_task(task_sid, worker_sid=None) -> WR``;
    ``agent_message(conversation_sid, worker_sid, body, attributes=None)``;
    ``wrapup(task_sid)``; ``complete(task_sid, reason="completed")``;
    ``cancel_task(task_sid, reason=None)`` (TaskRouter only: the chat is untouched);
    ``agent_end_chat(task_sid)`` (native End chat: ends it for everybody);
    ``agent_leave(task_sid, status="closed")`` (Leave: the chat goes on);
    ``flex_leave(task_sid)``, ``pause_chat(task_sid)``, ``park(task_sid)``,
    ``resume(conversation_sid)`` (chats left open on purpose); ``worker_sid(name)``.
Time
    ``advance(seconds)`` (fires reservation / target timeouts, task TTLs, conversation
    timers); ``tick()``; a background timer also fires them in real time.
Faults
    ``faults.configure(rate_429=, rate_500=, rate_500_after_commit=, path=, methods=,
    retry_after=, latency=, latency_jitter=, webhook_drop_rate=,
    webhook_duplicate_rate=, webhook_reorder_rate=, webhook_kinds=, stream_shuffle=,
    stream_duplicate_rate=, seed=)``;
    ``faults.fail_next(count, status=429, path=None, method=None, after_commit=False)``;
    ``faults.reset()``; ``faults.counts`` / ``faults.log``.
Reading back
    ``requests`` (RequestRecord: method, product, path, template, params, status,
    response...), ``requests_to(product=, method=, template=)``, ``violations``,
    ``unmodelled``, ``errors``, ``assert_faithful()``; ``interaction_misuses``,
    ``interaction_channel(UO)``; ``deliveries(kind=,
    event_type=)`` (url, fields, token, attempts with status codes); ``sink_deliveries(
    sink_sid=)`` (Event Streams' batches: events, attempts); ``event_streams`` (sinks,
    subscriptions, ``streamed``: every CloudEvent made); ``events(types=,
    task_sid=)``; ``task(sid)``, ``task_status(sid)``, ``tasks(status=, where=)``,
    ``worker(sid)``, ``conversation(sid)``, ``messages(sid)``, ``participants(sid)``;
    ``wait_idle(timeout=10)`` (webhooks and Event Streams' batches delivered),
    ``wait_for(predicate, timeout=10)``,
    ``pause_webhooks()`` / ``resume_webhooks()`` (let webhooks pile up, then go).
"""

from .cli import cli_main, serve
from .clock import Clock
from .errors import TwilioError
from .faults import FaultConfig
from .sandbox import Sandbox
from .seeding import Chat, FlexSetup

__all__ = ["Chat", "Clock", "FaultConfig", "FlexSetup", "Sandbox", "TwilioError", "cli_main", "serve"]
