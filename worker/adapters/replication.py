"""Writes that must survive a failover: WAIT for replicas before anyone acts on them.

Redis replicates asynchronously: a master that dies can take with it the last writes it
acknowledged, and Sentinel promotes a replica that never saw them (docs/reliability.md,
"Failover"). With REDIS_WAIT_REPLICAS set, every pipeline of the service's Redis clients ends
with `WAIT <replicas> <timeout>` on its own connection (WAIT covers the writes made on the
connection that sends it): the store's transactions after their EXEC, the intake's script and
the transfer record's creation in the same round trip as the write. A write fewer replicas
confirmed in time raises `NotReplicated` — a RedisError, so the receiver answers 503 and a
worker retries, as for Redis unreachable — and nothing is done on the strength of it.

Each replication stream a new master keeps is a prefix of the old master's, so a write that a
replica confirmed also vouches for every write made before it, by any client.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import Pipeline


class NotReplicated(redis.RedisError):
    """Fewer replicas than REDIS_WAIT_REPLICAS confirmed a write in time: it may not survive a
    failover, so it is not acknowledged. (Not a ConnectionError: redis-py must not resend it.)"""


@dataclass(frozen=True)
class ReplicaWait:
    replicas: int
    timeout_ms: int

    def command(self) -> tuple[Any, ...]:
        return ("WAIT", self.replicas, self.timeout_ms)

    def check(self, acknowledged: Any) -> None:
        if int(acknowledged) < self.replicas:
            raise NotReplicated(
                f"{acknowledged} of {self.replicas} replica(s) confirmed within {self.timeout_ms} ms"
            )


class ReplicatedPipeline(Pipeline):
    """A pipeline that ends with WAIT on its connection when its client asks for replicas."""

    replica_wait: ReplicaWait | None = None

    def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: bool) -> list[Any]:
        response = super()._execute_transaction(connection, commands, raise_on_error)
        if self.replica_wait is not None:
            # After EXEC (inside MULTI, WAIT would not block). A connection lost here must not
            # let redis-py resend the transaction, whose WATCH is gone: NotReplicated is final.
            try:
                connection.send_command(*self.replica_wait.command())
                acknowledged = connection.read_response()
            except (redis.ConnectionError, redis.TimeoutError) as error:
                connection.disconnect()
                raise NotReplicated(f"no answer to WAIT: {error}") from error
            self.replica_wait.check(acknowledged)
        return response

    def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: bool) -> list[Any]:
        if self.replica_wait is None:
            return super()._execute_pipeline(connection, commands, raise_on_error)
        response = super()._execute_pipeline(
            connection, [*commands, (self.replica_wait.command(), {})], raise_on_error
        )
        self.replica_wait.check(response.pop())
        return response


class ReplicatedRedis(redis.Redis):
    """redis.Redis whose pipelines WAIT for `replica_wait.replicas` replicas (None: they do not)."""

    replica_wait: ReplicaWait | None = None

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        pipe = ReplicatedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.replica_wait = self.replica_wait
        return pipe


def write_durably(client: redis.Redis, write: Callable[[Pipeline], Any]) -> list[Any]:
    """Run the commands `write` queues in one round trip — and, on a ReplicatedRedis that asks
    for replicas, the WAIT that confirms them, on the same connection."""
    with client.pipeline(transaction=False) as pipe:
        write(pipe)
        return pipe.execute()
