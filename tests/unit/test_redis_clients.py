"""Redis URLs (one server, TLS, Sentinel in both forms) read once, in one place, and the clients and
Celery transport built from them (worker.adapters.redis_clients). No server needed: a client
connects on its first command."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from kombu import Connection
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection, SentinelManagedSSLConnection

from tests.support.settings import make_settings
from worker.adapters.redis_clients import (
    broker_config,
    broker_target,
    kombu_sentinel_url,
    parse_redis_url,
    redis_client,
)
from worker.adapters.replication import ReplicatedRedis, ReplicaWait
from worker.adapters.task_queue import CeleryTaskQueue
from worker.settings import describe_validation_error

TLS = {"redis_tls_ca_certs": "/certs/ca.crt", "redis_tls_certfile": "/certs/c.crt", "redis_tls_keyfile": "/k"}


@pytest.mark.parametrize(
    ("url", "address", "db", "tls"),
    [
        ("redis://r:6379/1", ("r", 6379), 1, False),
        ("redis://R", ("r", 6379), 0, False),
        ("rediss://:secret@cache.example.com:6380/2", ("cache.example.com", 6380), 2, True),
        ("redis://r:6379?db=3", ("r", 6379), 3, False),
        ("unix:///run/redis.sock?db=4", "/run/redis.sock", 4, False),
    ],
)
def test_one_server(url, address, db, tls):
    target = parse_redis_url(url)
    assert (target.address, target.db, target.tls, target.is_sentinel) == (address, db, tls, False)


def test_sentinel_url_names_its_sentinels_master_and_database():
    target = parse_redis_url("redis+sentinel://user:p%40ss@s1,S2:26380,[::1]:26381/mymaster/3")
    assert target.sentinels == (("s1", 26379), ("s2", 26380), ("::1", 26381))
    assert (target.master, target.db, target.tls) == ("mymaster", 3, False)
    assert (target.username, target.password) == ("user", "p@ss")
    assert parse_redis_url("rediss+sentinel://s1/mymaster").tls
    assert parse_redis_url("redis+sentinel://s1/mymaster").db == 0


def test_celerys_sentinel_list_takes_its_master_from_the_setting():
    url = "sentinel://:pw@s1:26379/2;sentinel://:pw@s2:26380/2;sentinel://s3"
    target = parse_redis_url(url, master="cluster1")
    assert target.sentinels == (("s1", 26379), ("s2", 26380), ("s3", 26379))
    assert (target.master, target.db, target.password) == ("cluster1", 2, "pw")


@pytest.mark.parametrize(
    ("url", "master", "message"),
    [
        ("sentinel://s1:26379", None, "REDIS_SENTINEL_MASTER"),
        ("redis+sentinel://s1:26379", None, "master set's name"),
        ("redis+sentinel://s1/a", "b", "names master 'a' but REDIS_SENTINEL_MASTER is 'b'"),
        ("redis+sentinel://s1:port/m", None, "port is not a number"),
        ("redis+sentinel://s1/m/zero", None, "database must be a number"),
        ("redis+sentinel://s1/m?ssl_cert_reqs=none", None, "no query options"),
        ("sentinel://s1;redis://r", "m", "every URL of a Sentinel list"),
        ("memcached://m", None, "not a Redis URL"),
    ],
)
def test_a_malformed_url_is_refused_with_what_is_wrong(url, master, message):
    with pytest.raises(ValueError, match=message):
        parse_redis_url(url, master)


def test_the_same_database_whatever_the_form():
    ours = parse_redis_url("redis+sentinel://s1,s2,s3/mymaster/0")
    assert ours.same_database(parse_redis_url("sentinel://s3:26379/0;sentinel://s9", master="mymaster"))
    assert not ours.same_database(parse_redis_url("redis+sentinel://s1/mymaster/1"))
    assert not ours.same_database(parse_redis_url("redis+sentinel://s1/other/0"))
    assert not ours.same_database(parse_redis_url("redis+sentinel://elsewhere/mymaster/0"))
    assert not ours.same_database(parse_redis_url("redis://s1:26379/0"))
    assert parse_redis_url("redis://R:6379/0").same_database(parse_redis_url("rediss://r/0"))
    assert not parse_redis_url("redis://r/0").same_database(parse_redis_url("redis://r/1"))


def test_kombus_form_reads_back_as_the_same_target():
    target = parse_redis_url("redis+sentinel://u:p%3Bw@s1,[::1]:26380/mymaster/5")
    url = kombu_sentinel_url(target)
    assert url == "sentinel://u:p%3Bw@s1:26379/5;sentinel://u:p%3Bw@[::1]:26380/5"
    again = parse_redis_url(url, master="mymaster")
    assert again.same_database(target) and (again.username, again.password) == ("u", "p;w")


# ---- settings ------------------------------------------------------------------------------------


def test_the_settings_refuse_what_cannot_work():
    with pytest.raises(ValueError) as missing_master:
        make_settings(redis_url="sentinel://s1:26379")
    assert "REDIS_URL: a Sentinel URL needs" in describe_validation_error(missing_master.value)
    with pytest.raises(ValueError) as tls_without_tls:
        make_settings(redis_url="redis://r/0", **TLS)
    assert describe_validation_error(tls_without_tls.value) == (
        "invalid settings: REDIS_TLS_* is set but no Redis URL asks for TLS (rediss://, rediss+sentinel://)"
    )
    with pytest.raises(ValueError, match="CELERY_BROKER_URL"):
        make_settings(celery_broker_url="redis+sentinel://s1")
    assert make_settings(celery_broker_url="amqp://guest@q//").broker_url == "amqp://guest@q//"
    with pytest.raises(ValueError):
        make_settings(redis_tls_cert_reqs="sometimes")


def test_a_bad_url_stops_the_process_with_one_line(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "t",
        "TWILIO_FLEX_WORKSPACE_SID": "WS" + "2" * 32,
        "TWILIO_FLEX_CHAT_TRANSFER_WORKFLOW_SID": "WW" + "3" * 32,
        "REDIS_URL": "redis+sentinel://s1:26379",
    }
    code = "from worker.settings import load_settings_or_exit; load_settings_or_exit()"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(repo)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "chat-transfer: invalid settings: REDIS_URL: a Sentinel URL needs the master set's name "
        "(in the URL, or REDIS_SENTINEL_MASTER)"
    ]


# ---- clients -------------------------------------------------------------------------------------


def test_a_direct_client_over_tls_with_the_settings_certificates():
    settings = make_settings(redis_url="rediss://:pw@cache:6380/2", redis_wait_replicas=1, **TLS)
    client = redis_client(settings, socket_timeout=5)
    assert isinstance(client, ReplicatedRedis) and client.replica_wait == ReplicaWait(1, 500)
    options = client.connection_pool.connection_kwargs
    assert (options["host"], options["port"], options["db"], options["password"]) == ("cache", 6380, 2, "pw")
    assert options["ssl_ca_certs"] == "/certs/ca.crt" and options["ssl_certfile"] == "/certs/c.crt"
    assert options["ssl_cert_reqs"] == ssl.CERT_REQUIRED and options["ssl_check_hostname"] is True
    assert options["socket_timeout"] == 5


def test_without_wait_the_client_asks_for_no_replica():
    client = redis_client(make_settings(redis_url="redis://r/0"))
    assert client.replica_wait is None


@pytest.mark.parametrize("tls", [False, True])
def test_a_sentinel_client_asks_the_sentinels_for_the_master(tls):
    scheme = "rediss+sentinel" if tls else "redis+sentinel"
    settings = make_settings(
        redis_url=f"{scheme}://:pw@s1,s2:26380/mymaster/4",
        redis_sentinel_password="sentinel-secret",
        **(TLS if tls else {}),
    )
    client = redis_client(settings, socket_timeout=5, socket_connect_timeout=1)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "mymaster"
    assert pool.connection_class is (SentinelManagedSSLConnection if tls else SentinelManagedConnection)
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (4, "pw")
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    kwargs = sentinels[0].connection_pool.connection_kwargs
    assert kwargs["password"] == "sentinel-secret" and kwargs["socket_timeout"] == 1
    assert (kwargs.get("ssl_ca_certs") == "/certs/ca.crt") is tls


def test_certificates_unchecked_only_when_asked():
    settings = make_settings(redis_url="rediss://cache/0", redis_tls_cert_reqs="none")
    options = redis_client(settings).connection_pool.connection_kwargs
    assert options["ssl_cert_reqs"] == ssl.CERT_NONE and options["ssl_check_hostname"] is False


# ---- Celery's transport --------------------------------------------------------------------------


def test_celerys_broker_through_sentinel_in_kombus_form():
    settings = make_settings(redis_url="rediss+sentinel://:pw@s1,s2:26380/mymaster/1", **TLS)
    broker = broker_config(settings, socket_timeout=3)
    assert broker.url == "sentinel://:pw@s1:26379/1;sentinel://:pw@s2:26380/1"
    assert broker.transport_options["master_name"] == "mymaster"
    sentinel_kwargs = broker.transport_options["sentinel_kwargs"]
    assert sentinel_kwargs["ssl"] is True and sentinel_kwargs["socket_timeout"] == 3
    assert broker.use_ssl is not None and broker.use_ssl["ssl_ca_certs"] == "/certs/ca.crt"
    connection = Connection(broker.url, transport_options=broker.transport_options, ssl=broker.use_ssl)
    assert connection.transport_cls == "sentinel" and len(connection.alt) == 2
    assert (connection.hostname, connection.port, connection.virtual_host) == ("s1", 26379, "1")


def test_celerys_broker_as_given_otherwise():
    assert broker_config(make_settings(redis_url="redis://r/0")).url == "redis://r/0"
    tls = broker_config(make_settings(redis_url="rediss://r/0", **TLS))
    assert tls.url == "rediss://r/0" and tls.use_ssl is not None and not tls.transport_options
    other = broker_config(make_settings(redis_url="redis://r/0", celery_broker_url="amqp://guest@q//"))
    assert (other.url, other.use_ssl, other.transport_options) == ("amqp://guest@q//", None, {})
    celerys = make_settings(
        redis_url="redis://r/0", celery_broker_url="sentinel://s1:26379", redis_sentinel_master="m"
    )
    assert broker_config(celerys).transport_options["master_name"] == "m"


@pytest.mark.parametrize(
    ("state", "broker", "master", "one_step"),
    [
        ("redis+sentinel://s1,s2/mymaster/0", None, None, True),  # the broker defaults to REDIS_URL
        ("redis+sentinel://s1,s2/mymaster/0", "sentinel://s2:26379/0", "mymaster", True),
        ("redis+sentinel://s1,s2/mymaster/0", "redis+sentinel://s1/mymaster/1", None, False),
        ("redis+sentinel://s1,s2/mymaster/0", "redis://s1:6379/0", None, False),
        ("redis://r:6379/0", "redis://R/0", None, True),
    ],
)
def test_one_step_intake_when_broker_and_state_are_one_master(state, broker, master, one_step):
    settings = make_settings(redis_url=state, celery_broker_url=broker, redis_sentinel_master=master)
    config = broker_config(settings)
    app = Celery("t", broker=config.url, set_as_current=False)
    app.conf.broker_transport_options = config.transport_options
    assert CeleryTaskQueue(app).is_redis_at(settings.state_redis_target) is one_step
    assert broker_target(config.url, config.transport_options) is not None
