"""What a Sentinel failover does to the writes the service acknowledged (docs/reliability.md,
"Failover"), on real processes: a redis-server primary and replica (two, where a test says so) and
three Sentinels.

The loss is made deterministic, not waited for: the replica is cut off (frozen, and its link
dropped by the primary), so every write the primary takes from then on is gone once Sentinel
promotes the replica. Without REDIS_WAIT_REPLICAS an event answered "queued" is lost; with it,
such an event is never acknowledged (the receiver answers 503 and Twilio delivers it again).
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from ops.redis_ha import RedisHA, tls_unavailable
from tests.support.settings import make_settings
from webhooks.intake import EventIntake, Outcome
from worker.adapters.conversation_store import ConversationStore
from worker.adapters.intake_dedupe import IntakeDedupe
from worker.adapters.redis_clients import broker_config, redis_client
from worker.adapters.replication import NotReplicated
from worker.adapters.task_queue import RUN_TRANSFER, TASKROUTER_EVENT, CeleryTaskQueue
from worker.adapters.transfer_store import TransferStore
from worker.domain.errors import ServiceUnavailable
from worker.domain.transfer import TransferRecord
from worker.settings import Settings


def event(n: int) -> dict[str, Any]:
    return {"fields": {"EventType": "task.created", "Sid": f"EV{n:032x}", "TaskSid": f"WT{n:032x}"}}


@pytest.fixture
def ha(request: pytest.FixtureRequest) -> Iterator[RedisHA]:
    """One per test (a failover changes who is master); one replica unless parametrised."""
    with RedisHA(replica_count=getattr(request, "param", 1)) as running:
        yield running


def settings_for(ha: RedisHA, wait_replicas: int = 1, **overrides: Any) -> Settings:
    env = ha.env(wait_replicas=wait_replicas, wait_timeout_ms=200)
    return make_settings(**{name.lower(): value for name, value in env.items()}, **overrides)


def celery_for(settings: Settings) -> Celery:
    config = broker_config(settings)
    app = Celery("failover-test", broker=config.url, set_as_current=False)
    app.conf.broker_transport_options = config.transport_options
    app.conf.broker_use_ssl = config.use_ssl
    app.conf.task_routes = {
        "chat_transfer.events.*": {"queue": "events", "routing_key": "events"},
        "chat_transfer.transfers.*": {"queue": "transfers", "routing_key": "transfers"},
    }
    return app


def client_for(settings: Settings) -> redis.Redis:
    return redis_client(settings, socket_timeout=2, socket_connect_timeout=1)


def intake_for(settings: Settings, client: redis.Redis | None = None) -> EventIntake:
    client = client or client_for(settings)
    queue = CeleryTaskQueue(celery_for(settings), client, settings.state_redis_target)
    intake = EventIntake.for_broker(IntakeDedupe(client, 3600), queue, settings.state_redis_target)
    assert intake.one_step  # broker and state: the same Sentinel master set
    return intake


def accept(intake: EventIntake, n: int) -> Outcome:
    return intake.accept(TASKROUTER_EVENT, f"taskrouter:EV{n:032x}", event(n))


def queued_sids(ha: RedisHA) -> list[str]:
    import base64
    import json

    found = []
    for raw in ha.master().client().lrange("events", 0, -1):
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        found.append(body[0][0]["fields"]["Sid"])
    return sorted(found)


def test_without_wait_a_failover_loses_an_event_answered_queued(ha):
    intake = intake_for(settings_for(ha, wait_replicas=0))
    assert accept(intake, 1) is Outcome.QUEUED
    ha.cut_replica_off()
    assert accept(intake, 2) is Outcome.QUEUED  # Twilio is answered 204: it will not send it again
    ha.fail_over()
    assert queued_sids(ha) == [f"EV{1:032x}"]  # event 2 is gone, with its dedupe key
    assert not ha.replica.client().exists(f"cft:seen:taskrouter:EV{2:032x}")


@pytest.mark.parametrize("ha", [1, 2], ids=["one-replica", "two-replicas"], indirect=True)
def test_with_wait_an_event_no_replica_confirmed_is_refused_not_lost(ha):
    intake = intake_for(settings_for(ha))
    assert accept(intake, 1) is Outcome.QUEUED
    ha.cut_replica_off()  # every replica: whichever Sentinel promotes lacks what follows
    with pytest.raises(ServiceUnavailable, match="NotReplicated"):
        accept(intake, 2)  # 503: Twilio delivers it again
    ha.fail_over()
    assert queued_sids(ha) == [f"EV{1:032x}"]  # what was acknowledged survived
    if len(ha.replicas) == 1:
        with pytest.raises(ServiceUnavailable, match="NotReplicated"):
            accept(intake, 2)  # and with no replica behind the new master, nothing is acknowledged
        return
    ha.wait_replicated()  # the replica left behind, which Sentinel points at the promoted one
    assert accept(intake, 2) is Outcome.QUEUED  # acknowledged again, the old primary still down
    assert not ha.primary.alive
    assert queued_sids(ha) == [f"EV{1:032x}", f"EV{2:032x}"]


def test_a_redelivery_is_acknowledged_only_once_the_first_push_is_on_a_replica(ha):
    """A redelivery comes on another connection (another gunicorn worker). WAIT is documented to
    count the writes of its own connection, so the script rewrites the key's expiry for the WAIT
    to cover. (Redis up to 7.0 counts any command of the connection, even a read, so there the
    rewrite is belt and braces; the redelivery's answer waiting for a replica is what is tested.)"""
    settings = settings_for(ha)
    ha.freeze_replica()
    with pytest.raises(ServiceUnavailable, match="NotReplicated"):
        accept(intake_for(settings), 3)  # pushed on the primary, not confirmed: 503
    with pytest.raises(ServiceUnavailable, match="NotReplicated"):
        accept(intake_for(settings), 3)  # Twilio's retry, on a fresh connection: still not confirmed
    ha.replica.signal(signal.SIGCONT)
    assert accept(intake_for(settings), 3) is Outcome.DUPLICATE  # now on the replica: 204
    assert queued_sids(ha) == [f"EV{3:032x}"]


def test_state_transfer_records_and_messages_wait_for_a_replica(ha):
    settings = settings_for(ha)
    client = client_for(settings)
    store = ConversationStore(client, 3600)
    transfers = TransferStore(client)
    queue = CeleryTaskQueue(celery_for(settings), client, settings.state_redis_target)

    def record(transfer_id: str) -> TransferRecord:
        return TransferRecord(transfer_id, "WT1", "WK1", "WARM", requested_by="WK2", created_at=0.0)

    changed, _ = store.transition("CH1", lambda s: s.track("WT1"))
    assert changed and transfers.create(record("t1"))
    queue.enqueue(RUN_TRANSFER, {"transferId": "t1"})
    ha.freeze_replica()
    with pytest.raises(NotReplicated):
        store.transition("CH1", lambda s: s.track("WT2"))
    with pytest.raises(NotReplicated):
        transfers.update("t1", lambda r: setattr(r, "attempts", 1))
    with pytest.raises(NotReplicated):
        transfers.create(record("t2"))
    with pytest.raises(ServiceUnavailable):
        queue.enqueue(RUN_TRANSFER, {"transferId": "t2"})
    with pytest.raises(ServiceUnavailable, match="NotReplicated"):  # the Event Streams sink's batch
        IntakeDedupe(client, 3600).queue_batch_once([("cloudevent:1", "events", "{}")])


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_clients_and_celerys_transport_follow_sentinel_through_a_failover(tls):
    if tls and tls_unavailable():
        pytest.skip(tls_unavailable())
    with RedisHA(tls=tls) as ha:
        settings = settings_for(ha, wait_replicas=0)
        intake = intake_for(settings)
        app = celery_for(settings)
        assert accept(intake, 10) is Outcome.QUEUED
        ha.fail_over()  # nothing cut off: the replica has everything
        assert accept(intake, 11) is Outcome.QUEUED  # the same clients, on the new master
        assert accept(intake, 10) is Outcome.DUPLICATE
        with app.connection_for_read() as connection:  # kombu's Sentinel transport (over TLS)
            queue = connection.SimpleQueue("events", no_ack=True)
            sids = sorted(queue.get(timeout=10).payload[0][0]["fields"]["Sid"] for _ in range(2))
            queue.close()
        assert sids == [f"EV{10:032x}", f"EV{11:032x}"]
        if tls:  # and the certificates are checked: without the CA, no connection
            unverified = settings.model_copy(update={"redis_tls_ca_certs": None})
            with pytest.raises(redis.ConnectionError):
                client_for(unverified).ping()
