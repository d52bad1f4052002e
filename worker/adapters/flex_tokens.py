"""The Flex token check (CONTRACT §4): IAM `Tokens/validate`, which the twilio library lacks.

Answers are cached in Redis under a hash of the token: a valid one until the token expires (at
most an hour), so an agent's burst of transfers costs one IAM call; a refused one for
`FLEX_TOKEN_INVALID_CACHE_SECONDS`, so the same bad token sent again and again costs one IAM call
too. The call's timeout is `FLEX_TOKEN_TIMEOUT_SECONDS` (3 s), well under the 15 s TaskRouter
allows the receiver's workers for a webhook. A token is never stored or logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from datetime import datetime

import redis
import requests

from worker.adapters.http_client import rewrite_twilio_url
from worker.domain.errors import ServiceUnavailable
from worker.settings import Settings

MAX_CACHE_SECONDS = 3600
REFUSED = b"refused"


@dataclass(frozen=True)
class FlexIdentity:
    worker_sid: str | None
    identity: str | None
    roles: list[str]
    expires_at: float

    @property
    def is_supervisor(self) -> bool:
        return any(role in ("supervisor", "admin") for role in self.roles)


def _expiry(value: object, now: float) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return now + 300


class FlexTokenValidator:
    def __init__(
        self, settings: Settings, client: redis.Redis, session: requests.Session | None = None
    ) -> None:
        self._url = rewrite_twilio_url(
            f"https://iam.twilio.com/v1/Accounts/{settings.twilio_account_sid}/Tokens/validate",
            settings.twilio_api_base_url,
        )
        self._auth = (settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
        self._redis = client
        self._session = session or requests.Session()
        self._timeout = settings.flex_token_timeout_seconds
        self._refused_ttl = settings.flex_token_invalid_cache_seconds

    def validate(self, token: str) -> FlexIdentity | None:
        """The token's identity, or None when Twilio says it is not valid."""
        now = time.time()
        key = "cft:flextoken:" + hashlib.sha256(token.encode()).hexdigest()
        try:
            cached = self._redis.get(key)
        except redis.RedisError:
            cached = None
        if cached == REFUSED or cached == REFUSED.decode():
            return None
        if cached:
            identity = FlexIdentity(**json.loads(cached))
            return identity if identity.expires_at > now else None
        identity = self._ask_twilio(token, now)
        if identity is None:
            self._remember(key, REFUSED, self._refused_ttl)
            return None
        ttl = int(min(MAX_CACHE_SECONDS, identity.expires_at - now))
        if ttl <= 0:
            return None
        self._remember(key, json.dumps(asdict(identity)).encode(), ttl)
        return identity

    def _remember(self, key: str, value: bytes, ttl: int) -> None:
        if ttl > 0:
            with contextlib.suppress(redis.RedisError):
                self._redis.set(key, value, ex=ttl)

    def _ask_twilio(self, token: str, now: float) -> FlexIdentity | None:
        try:
            response = self._session.post(
                self._url, json={"token": token}, auth=self._auth, timeout=self._timeout
            )
        except requests.RequestException as error:
            raise ServiceUnavailable(f"flex token check unreachable: {type(error).__name__}") from error
        if response.status_code == 429 or response.status_code >= 500:
            raise ServiceUnavailable(f"flex token check answered {response.status_code}")
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError as error:
            raise ServiceUnavailable("flex token check answered no JSON") from error
        if not isinstance(body, dict) or body.get("valid") is not True:
            return None
        return FlexIdentity(
            worker_sid=body.get("worker_sid"),
            identity=body.get("identity"),
            roles=list(body.get("roles") or []),
            expires_at=_expiry(body.get("expiration"), now),
        )
