"""The workers' figures, kept in Redis, read by the receiver's `/metrics` (issue 12, defect 8)."""

from __future__ import annotations

import fakeredis
from prometheus_client.parser import text_string_to_metric_families

from tests.support.settings import make_settings, sid
from tests.unit.test_outbox_drainer import Chat
from tests.unit.test_receiver import RecordingQueue
from webhooks import create_app
from worker.adapters.deferred import DeferredWork
from worker.adapters.twilio_gateway import TwilioRejected
from worker.adapters.worker_metrics import WorkerMetrics


def scrape(client: fakeredis.FakeRedis) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    app = create_app(make_settings(), redis_client=client, task_queue=RecordingQueue())
    text = app.test_client().get("/metrics").get_data(as_text=True)
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_what_the_workers_did_shows_in_the_receivers_metrics() -> None:
    chat = Chat()  # a chat ended by the real drainer, Twilio refusing its TaskRouter check
    chat.twilio.refuse["inflight_tasks_of"] = TwilioRejected(403, 20003, "Authenticate")
    chat.agent_finishes()
    metrics = WorkerMetrics(chat.client)
    metrics.retried("chat_transfer.transfers.run")
    metrics.parked("chat_transfer.transfers.run")
    metrics.unexpected("chat_transfer.events.taskrouter", TypeError("x"))
    DeferredWork(chat.client).park("chat_transfer.transfers.run", {}, retries=1, due=1e12, now=0.0)
    chat.store.transition(sid("CH", 0xE), lambda s: s.track(sid("WT", 0xE)))  # a mirror queued

    samples = scrape(chat.client)
    assert samples["chat_transfer_worker_step_failures_total"] == {
        (("status", "403"), ("step", "end-check")): 1.0
    }
    assert samples["chat_transfer_end_steps_skipped_total"] == {(("step", "check"),): 1.0}
    assert samples["chat_transfer_worker_retries_total"] == {(("task", "chat_transfer.transfers.run"),): 1.0}
    assert (
        samples["chat_transfer_worker_retries_parked_total"][(("task", "chat_transfer.transfers.run"),)] == 1
    )
    assert samples["chat_transfer_worker_unexpected_errors_total"] == {
        (("error", "TypeError"), ("where", "chat_transfer.events.taskrouter")): 1.0
    }
    assert samples["chat_transfer_outbox_items"] == {(): 1.0}
    assert samples["chat_transfer_outbox_chats"] == {(): 1.0}
    assert samples["chat_transfer_parked_retries"] == {(): 1.0}
    assert samples["chat_transfer_dead_letters"] == {(): 0.0}
    assert samples["chat_transfer_chat_close_seconds_count"] == {(): 1.0}
    assert samples["chat_transfer_chat_close_seconds_bucket"][(("le", "+Inf"),)] == 1.0


def test_a_scrape_with_redis_down_still_answers() -> None:
    server = fakeredis.FakeServer()
    server.connected = False
    samples = scrape(fakeredis.FakeRedis(server=server))
    assert "chat_transfer_outbox_items" not in samples
