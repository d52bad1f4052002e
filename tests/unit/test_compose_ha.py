"""docker-compose.yml's `ha` profile, checked as far as this machine can (docker is not run here):
its structure, the URL .env.example gives the services, and every Redis and Sentinel command line
of the file started for real with the local redis-server on a free port."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from ops.embedded_redis import free_port
from ops.localstack import wait_for
from ops.redis_ha import tls_capable_redis_server
from worker.adapters.redis_clients import parse_redis_url

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APPS = ("web", "worker", "beat", "flower")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
REPLICAS = ("redis-replica", "redis-replica-2")  # two: after a failover one is left to confirm writes


def ha_env() -> dict[str, str]:
    """The ha lines of .env.example, uncommented."""
    lines = (REPO / ".env.example").read_text().splitlines()
    found = {}
    for line in lines:
        match = re.fullmatch(r"# (COMPOSE_PROFILES|REDIS_URL|REDIS_WAIT_REPLICAS)=(\S+)", line)
        if match and (match[1] != "REDIS_URL" or "sentinel" in match[2]):
            found[match[1]] = match[2]
    return found


def sentinel_config() -> str:
    script = SERVICES["sentinel-1"]["command"][2]
    return script.split("<<EOF\n", 1)[1].split("\nEOF", 1)[0]


def test_the_ha_profile_adds_two_replicas_and_three_sentinels_only():
    ha = [name for name, service in SERVICES.items() if "ha" in service.get("profiles", [])]
    assert sorted(ha) == [*REPLICAS, *SENTINELS]
    assert all("ha" not in SERVICES[name].get("profiles", []) for name in ("redis", *APPS))
    assert all("profiles" not in SERVICES[name] for name in ("redis", "web", "worker", "beat"))  # by default
    for name in REPLICAS:  # each replicates `redis`, is announced by its own name, keeps its own data
        replica = SERVICES[name]["command"]
        assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
        assert replica[replica.index("--replica-announce-ip") + 1] == name
        assert SERVICES[name]["volumes"] == [f"{name}-data:/data"] and f"{name}-data" in COMPOSE["volumes"]
    assert all(SERVICES[name]["command"] == SERVICES["sentinel-1"]["command"] for name in SENTINELS)


def test_the_services_follow_redis_url_and_wait_for_the_sentinels_when_there_are_any():
    for name in APPS:
        service = SERVICES[name]
        assert service["environment"]["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"
        for sentinel in SENTINELS:
            assert service["depends_on"][sentinel] == {"condition": "service_healthy", "required": False}


def test_env_example_points_the_services_at_the_sentinels_of_the_file():
    env = ha_env()
    assert env["COMPOSE_PROFILES"] == "ha" and int(env["REDIS_WAIT_REPLICAS"]) >= 1
    target = parse_redis_url(env["REDIS_URL"])
    assert sorted(target.sentinels) == [(name, 26379) for name in SENTINELS]
    config = sentinel_config()
    monitor = re.search(r"^sentinel monitor (\S+) (\S+) (\d+) (\d+)$", config, re.M)
    assert monitor is not None
    master, host, port, quorum = monitor.groups()
    assert (target.master, host, port) == (master, "redis", "6379")
    assert 1 < int(quorum) <= len(SENTINELS)  # a majority of the three
    assert "port 26379" in config.splitlines()


def _runs(args: list[str], port: int) -> None:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        wait_for(lambda: process.poll() is not None or client.ping(), 30, 0.05, f"{args[:3]} answering")
        assert process.poll() is None, process.communicate()[1]
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("service", ["redis", *REPLICAS])
def test_each_redis_command_line_starts(service, tmp_path):
    binary = tls_capable_redis_server()  # Debian's 7.x, as the image's redis:7
    if binary is None:
        pytest.skip("no redis-server 7 on this machine")
    args = [binary if a == "redis-server" else a for a in SERVICES[service]["command"]]
    port = free_port()
    args = [*args, "--port", str(port), "--dir", str(tmp_path), "--bind", "127.0.0.1"]
    if "--replicaof" in args:  # its primary is not there: a replica waits for it, answering meanwhile
        at = args.index("--replicaof")
        args[at + 1 : at + 3] = ["127.0.0.1", str(free_port())]
    _runs(args, port)


def test_the_sentinel_configuration_is_one_sentinel_accepts(tmp_path):
    binary = tls_capable_redis_server()
    if binary is None:
        pytest.skip("no redis-server 7 on this machine")
    port = free_port()
    config = sentinel_config().replace("port 26379", f"port {port}\nbind 127.0.0.1")
    config = config.replace("mymaster redis 6379", f"mymaster localhost {free_port()}")
    path = tmp_path / "sentinel.conf"
    path.write_text(config + f"\ndir {tmp_path}\n")
    _runs([binary, str(path), "--sentinel"], port)
