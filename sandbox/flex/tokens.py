"""The Flex token check (IAM ``Tokens/validate``, not in the OpenAPI descriptions): the tokens a
test registers are valid until they expire; unknown or expired ones get ``valid: false`` with
HTTP 200, as Twilio's validator endpoint answers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ..clock import iso_ms
from ..core import Core
from ..errors import TwilioError, bad_request
from ..taskrouter import TaskRouter
from .model import worker_identity


@dataclass
class Token:
    token: str
    worker_sid: str | None
    identity: str
    roles: list[str]
    expiration: float
    realm_user_id: str | None
    flex_user_sid: str


class Tokens:
    """Registered Flex tokens and their check (a part of `Flex`)."""

    core: Core
    taskrouter: TaskRouter
    tokens: dict[str, Token]
    flex_instance_sid: str

    def register_token(
        self,
        worker_sid: str | None,
        *,
        token: str | None = None,
        identity: str | None = None,
        roles: list[str] | tuple[str, ...] = ("agent",),
        ttl: float = 3600,
    ) -> str:
        token = token or "eyJ" + secrets.token_urlsafe(48)
        if identity is None and worker_sid:
            _, worker = self.taskrouter.find_worker(worker_sid)
            identity = worker_identity(worker.attributes, worker.friendly_name)
        self.tokens[token] = Token(
            token=token,
            worker_sid=worker_sid,
            identity=identity or "unknown",
            roles=list(roles),
            expiration=self.core.now() + ttl,
            realm_user_id=identity,
            flex_user_sid=self.core.sid("FU"),
        )
        return token

    def validate(self, token: str) -> dict[str, Any]:
        tok = self.tokens.get(token)
        if tok is None:
            return {
                "valid": False,
                "code": 20003,
                "message": "Token is not valid",
                "expiration": None,
                "realm_user_id": None,
                "identity": None,
                "roles": None,
                "worker_sid": None,
            }
        if tok.expiration <= self.core.now():
            return {
                "valid": False,
                "code": 20104,
                "message": "Token expired",
                "expiration": iso_ms(tok.expiration),
                "realm_user_id": None,
                "identity": None,
                "roles": None,
                "worker_sid": None,
            }
        return {
            "valid": True,
            "code": 0,
            "message": None,
            "expiration": iso_ms(tok.expiration),
            "realm_user_id": tok.realm_user_id,
            "identity": tok.identity,
            "roles": list(tok.roles),
            "worker_sid": tok.worker_sid,
            "flex_instance_sid": self.flex_instance_sid,
            "flex_user_sid": tok.flex_user_sid,
        }


def validate_token_request(
    flex: Tokens, own_account_sid: str, account_sid: str, body: Any
) -> tuple[int, dict]:
    """POST iam /v1/Accounts/{AC}/Tokens/validate (not in the OpenAPI descriptions)."""
    if account_sid != own_account_sid:
        raise TwilioError(
            404, 20404, f"The requested resource /v1/Accounts/{account_sid}/Tokens/validate was not found"
        )
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        raise bad_request('The body must be JSON {"token": "..."}')
    return 200, flex.validate(body["token"])
