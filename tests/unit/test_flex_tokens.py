"""The Flex token check (issue 12, defect 9): a short IAM timeout, refused answers cached briefly."""

from __future__ import annotations

import fakeredis

from tests.support.settings import make_settings
from worker.adapters.flex_tokens import FlexTokenValidator


class Answer:
    def __init__(self, body: dict) -> None:
        self.status_code, self._body = 200, body

    def json(self) -> dict:
        return self._body


class IAM:
    """requests.Session as the validator uses it; counts the calls and the timeouts asked for."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def post(self, url: str, *, json: dict, auth: tuple[str, str], timeout: float) -> Answer:
        self.calls.append(timeout)
        if json["token"] == "good":
            return Answer({"valid": True, "worker_sid": "WK1", "roles": ["agent"], "expiration": 4e9})
        return Answer({"valid": False})


def validator(redis_client: fakeredis.FakeRedis, iam: IAM, **settings: object) -> FlexTokenValidator:
    return FlexTokenValidator(make_settings(**settings), redis_client, session=iam)  # type: ignore[arg-type]


def test_a_refused_token_is_asked_once_then_remembered_briefly():
    redis_client, iam = fakeredis.FakeRedis(), IAM()
    check = validator(redis_client, iam, flex_token_invalid_cache_seconds=45)
    assert [check.validate("forged") for _ in range(5)] == [None] * 5
    assert len(iam.calls) == 1
    [key] = redis_client.keys("cft:flextoken:*")
    assert 0 < redis_client.ttl(key) <= 45
    redis_client.delete(key)  # as when it expires
    assert check.validate("forged") is None
    assert len(iam.calls) == 2


def test_a_valid_token_is_remembered_and_the_call_has_a_short_timeout():
    iam = IAM()
    check = validator(fakeredis.FakeRedis(), iam)
    assert check.validate("good").worker_sid == "WK1"
    assert check.validate("good").worker_sid == "WK1"
    assert iam.calls == [3.0]  # FLEX_TOKEN_TIMEOUT_SECONDS' default, not the 10 s of REST calls


def test_refusals_are_not_remembered_when_told_not_to():
    iam = IAM()
    check = validator(fakeredis.FakeRedis(), iam, flex_token_invalid_cache_seconds=0)
    check.validate("forged")
    check.validate("forged")
    assert len(iam.calls) == 2
