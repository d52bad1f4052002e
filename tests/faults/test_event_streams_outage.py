"""Event Streams, the receiver answering 503 for 30 s (issue 13): with no reconciliation running (no
beat), every event is still acted on exactly once after Event Streams' retries. The figure the
callback intake cannot reach: TaskRouter does not retry its event callback, so an event answered
503 is gone until reconciliation notices.

Real processes: redis-server, the receiver under gunicorn, two celery workers, no beat; the
sandbox streams the chats' TaskRouter and Conversations events to a webhook sink (made by setup's
code) in shuffled batches, some events twice, through a gate in front of the receiver that
answers 503 while it is down — as a load balancer does when the receiver cannot be reached, or as
the receiver does when it cannot queue. Event Streams retries each refused batch with backoff
(the sandbox's: 0.5 s doubling to 8 s, with jitter).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from ops.embedded_redis import free_port
from ops.localstack import LocalStack, wait_for
from tests.faults.chats import AGENTS, ChatPlayer, injected, judge, mixed_plans, wait_settled
from tests.faults.figures import Figures
from tests.sandbox.conftest import _Quiet
from worker.domain.cloudevents import HANDLED_TYPES

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 30.0
CHATS = 24
FORWARDED = ("Content-Type", "X-Twilio-Signature", "Authorization")


class Gate:
    """An HTTP hop in front of the receiver: forwards every request, or answers 503 while down."""

    def __init__(self, target_port: int) -> None:
        self.target = f"http://127.0.0.1:{target_port}"
        self.down = False
        self.answers: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def _app(self, environ, start_response):
        request = Request(environ)
        if self.down:
            status, body = 503, b'{"error": "temporarily unavailable"}'
        else:
            forwarded = requests.post(
                f"{self.target}{request.full_path}",
                data=request.get_data(),
                headers={k: request.headers[k] for k in FORWARDED if k in request.headers},
                timeout=30,
            )
            status, body = forwarded.status_code, forwarded.content
        with self._lock:
            self.answers[status] += 1
        return Response(body, status=status, mimetype="application/json")(environ, start_response)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[LocalStack, Gate]]:
    web_port = free_port()
    gate = Gate(web_port)
    with LocalStack(
        worker_count=2,
        worker_concurrency=2,
        beat=False,  # no reconciliation: only Event Streams' retries can bring a refused event back
        web_port=web_port,
        workers_spec=AGENTS,
        settings={"PUBLIC_BASE_URL": gate.url},  # the URL Event Streams signs is the gate's
    ) as stack:
        stack.sandbox.set_event_callback(None)
        stack.sandbox.set_conversations_webhook(None)
        stack.subscribe_event_streams(gate.url)
        yield stack, gate
    gate.stop()


def test_a_sink_refusing_for_thirty_seconds_loses_nothing_without_reconciliation(gated, figure_book):
    stack, gate = gated
    sb = stack.sandbox
    figures = Figures(
        "event-streams-503",
        f"Event Streams, receiver answering 503 for {OUTAGE_SECONDS:g} s, no reconciliation",
    )
    seed = 1301
    player = ChatPlayer(stack, seed)
    outage: dict[str, float] = {}

    def outage_window() -> None:
        wait_for(lambda: player.started >= 4, timeout=120, what="chats under way")
        gate.down, outage["down"] = True, time.monotonic()
        time.sleep(OUTAGE_SECONDS)  # the outage's length is the scenario itself, not a wait on a condition
        gate.down, outage["up"] = False, time.monotonic()

    faults = {"stream_shuffle": True, "stream_duplicate_rate": 0.1}
    with injected(stack, figures.faults, seed, **faults):
        window = threading.Thread(target=outage_window, daemon=True)
        window.start()
        runs = player.play_many(mixed_plans(CHATS, seed), parallel=6)
        window.join()
        settled = wait_settled(runs, stack, timeout=240)
    assert sb.wait_idle(timeout=60)
    verdict = judge(stack, runs)
    batches = sb.sink_deliveries()
    refused_during_outage = gate.answers[503]
    figures.faults["sink_answered_503"] = refused_during_outage
    figures.events_sent = len(sb.event_streams.streamed) + player.transfer_posts
    figures.chats, figures.transfers = verdict.chats, verdict.transfers
    figures.lost, figures.doubled = verdict.lost, verdict.doubled
    figures.premature_ends, figures.leaked_chats = verdict.premature, verdict.leaked
    attempts = [len(d.attempts) for d in batches]
    delivered = Counter(e["id"] for d in batches for a in d.attempts if a.status == 200 for e in d.events)
    streamed = Counter(
        HANDLED_TYPES[e["type"]].event_type for e in sb.event_streams.streamed if e["type"] in HANDLED_TYPES
    )

    def acted_on() -> Counter[str]:
        handled = stack.redis.hgetall("cft:stats:events")  # what the workers acted on, by type
        return Counter({kind: int(handled.get(kind, 0)) for kind in streamed})

    # Every chat has settled, but the events of the last batches may still be in the workers'
    # hands (a task.created for a chat that already ended changes nothing the verdict reads):
    # wait until the counts reach the events streamed; more would be an event acted on twice.
    wait_for(
        lambda: all(acted_on()[k] >= n for k, n in streamed.items()), timeout=120, what="every event acted on"
    )
    acted = acted_on()
    figures.notes.update(
        batches=len(batches),
        batches_retried=sum(1 for n in attempts if n > 1),
        max_attempts_of_a_batch=max(attempts),
        outage_seconds=round(outage["up"] - outage["down"], 1),
        max_seconds_last_task_to_close=verdict.max_end_latency,
        events_acted_on=sum(acted.values()),
        events_delivered_more_than_once=sum(1 for n in delivered.values() if n > 1),
        # A chat whose whole life fell in the outage gets its events at once and in any order: a
        # join learned after the chat ended is not announced (a closed chat takes no messages).
        joined_left_notices_not_posted=verdict.missing_agent_notices,
        reconciliation_runs=int(stack.redis.hget("cft:reconcile:totals", "runs") or 0),
    )
    figure_book.record(figures)
    assert settled, verdict.problems
    assert refused_during_outage > 0 and figures.notes["batches_retried"] > 0
    assert all(d.delivered for d in batches)
    assert verdict.problems == []
    assert (figures.lost, figures.doubled, figures.premature_ends, figures.leaked_chats) == (0, 0, 0, 0)
    assert figures.notes["reconciliation_runs"] == 0
    assert acted == streamed  # each handled event acted on exactly once, its copies and retries not
