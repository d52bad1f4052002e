"""docker-compose.yml: Flower, which can cancel tasks and shut workers down, is never published
without a login (issue 12, defect 9)."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())


def test_flower_is_opt_in_behind_basic_auth_with_task_events_on_and_on_loopback_only():
    flower = COMPOSE["services"]["flower"]
    assert flower["profiles"] == ["monitoring"]  # `docker compose up` does not start it
    command = " ".join(flower["command"])
    assert 'test -n "$$FLOWER_BASIC_AUTH" ||' in command and "exit 2" in command
    assert '--basic-auth="$$FLOWER_BASIC_AUTH"' in command
    assert "--enable-events" in command
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_every_other_published_port_is_the_receiver():
    published = {name: s.get("ports") for name, s in COMPOSE["services"].items() if s.get("ports")}
    assert set(published) == {"web", "flower"}
