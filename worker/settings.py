"""Settings from the environment (CONTRACT §3), read once and validated at start.

`.env` in the working directory is honoured, as the Flex template's serverless functions do.
A missing or malformed required setting stops the process with one line naming it
(see `load_settings_or_exit`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal, NoReturn

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker.adapters.redis_clients import RedisTarget, is_redis_url, parse_redis_url


class TransferStrategy(StrEnum):
    AUTO = "auto"  # invite when the task carries flexInteractionSid/ChannelSid, else task
    TASK = "task"
    INVITE = "invite"


class UnansweredTransferAction(StrEnum):
    REQUEUE = "requeue"  # put the customer back on the original task's workflow
    END = "end"  # end the chat


def _sid_pattern(prefix: str) -> str:
    return rf"^{prefix}[0-9a-fA-F]{{32}}$"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    twilio_account_sid: str = Field(pattern=_sid_pattern("AC"))
    twilio_auth_token: SecretStr
    twilio_api_key: str | None = Field(default=None, pattern=_sid_pattern("SK"))
    twilio_api_secret: SecretStr | None = None
    twilio_flex_workspace_sid: str = Field(pattern=_sid_pattern("WS"))
    twilio_flex_chat_transfer_workflow_sid: str = Field(pattern=_sid_pattern("WW"))
    twilio_flex_chat_service_sid: str | None = Field(default=None, pattern=_sid_pattern("IS"))

    redis_url: str | None = None
    celery_broker_url: str | None = None
    public_base_url: str | None = None
    reconcile_interval_seconds: float = Field(default=60.0, gt=0)
    # The transfer task's Timeout: TaskRouter's own default is a day (its maximum two weeks).
    transfer_timeout_seconds: int = Field(default=120, gt=0, le=14 * 24 * 3600)
    twilio_api_base_url: str | None = None

    # Not in the contract; the service's own knobs, all with defaults.
    dedupe_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Event Streams' webhook sink (POST /webhooks/event-streams): a batch is larger than one event;
    # `user:password` when the sink URL carries basic-auth credentials (setup puts them there).
    event_streams_max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    event_streams_basic_auth: SecretStr | None = None
    conversation_ttl_after_end_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    default_agent_name: str = "Agent"
    cors_origins: str = "https://flex.twilio.com"
    # What an agent (not a supervisor) may ask of a transfer: see worker/domain/transfer_policy.py.
    transfer_priority_max: int = Field(default=0, ge=0)
    transfer_workflow_sids: str = ""  # comma-separated WW sids, besides the transfer workflow
    # The browser-facing endpoints (/transfers, /tasks/…, /chats/…), which share gunicorn's workers
    # with Twilio's webhooks: see webhooks/browser_guard.py.
    browser_rate_limit: str = "600/minute"  # per client address, shared by every receiver process
    browser_concurrency: int = Field(default=0, ge=0)  # workers busy with them at once; 0: half
    trusted_proxy_count: int = Field(default=0, ge=0)  # proxies whose X-Forwarded-For names the client
    flex_token_timeout_seconds: float = Field(default=3.0, gt=0)  # the IAM check's HTTP timeout
    flex_token_invalid_cache_seconds: int = Field(default=60, ge=0)  # a refused token is not re-asked
    transfer_strategy: TransferStrategy = TransferStrategy.AUTO
    transfer_routing_target_mode: bool = False
    janitor_compat: bool = False
    unanswered_transfer_action: UnansweredTransferAction = UnansweredTransferAction.REQUEUE
    twilio_http_timeout_seconds: float = Field(default=10.0, gt=0)  # a request leaves within it
    # How long after it left a Twilio request may still take effect though we gave up on it: an
    # outbox item whose outcome is unknown is looked up only this long after (worker/domain/lease.py).
    outbox_settle_seconds: float = Field(default=30.0, ge=0)
    outbox_max_attempts: int = Field(default=5, ge=1)  # unexpected failures, then a dead letter
    broker_visibility_timeout_seconds: int = Field(default=300, gt=0)
    task_max_retries: int = Field(default=12, ge=0)  # then the work is recorded as a dead letter
    retry_backoff_seconds: float = Field(default=0.5, gt=0)  # the first retry's delay; doubles after
    # Redis beyond one server (worker.adapters.redis_clients; README, "High availability"):
    redis_sentinel_master: str | None = None  # the master set, for sentinel://… URLs (Celery's master_name)
    redis_sentinel_password: SecretStr | None = None  # the sentinels' own password
    redis_tls_ca_certs: str | None = None
    redis_tls_certfile: str | None = None
    redis_tls_keyfile: str | None = None
    redis_tls_cert_reqs: Literal["required", "optional", "none"] = "required"
    redis_tls_check_hostname: bool = True
    redis_wait_replicas: int = Field(default=0, ge=0)  # writes that must survive a failover WAIT for these
    redis_wait_timeout_ms: int = Field(default=500, gt=0)
    # Cost knobs (each is Twilio calls per chat; docs/benchmarks.md counts them):
    mirror_associated_tasks: bool = True  # fetch + update of the conversation's attributes per change
    verify_end_with_taskrouter: bool = True  # one task listing before a chat is ended
    log_level: str = "INFO"

    @field_validator(
        "twilio_api_key",
        "twilio_flex_chat_service_sid",
        "redis_url",
        "celery_broker_url",
        "public_base_url",
        "twilio_api_base_url",
        "event_streams_basic_auth",
        "redis_sentinel_master",
        "redis_sentinel_password",
        "redis_tls_ca_certs",
        "redis_tls_certfile",
        "redis_tls_keyfile",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("transfer_workflow_sids")
    @classmethod
    def _workflow_sids(cls, value: str) -> str:
        for sid in filter(None, (part.strip() for part in value.split(","))):
            if not re.match(_sid_pattern("WW"), sid):
                raise ValueError(f"{sid!r} is not a WW sid")
        return value

    @field_validator("browser_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as error:
            raise ValueError(f"{value!r} is not a rate limit such as '120/minute': {error}") from None
        return value

    @property
    def allowed_workflow_sids(self) -> frozenset[str]:
        """The workflows an agent may name: the transfer workflow and TRANSFER_WORKFLOW_SIDS."""
        listed = {part.strip() for part in self.transfer_workflow_sids.split(",") if part.strip()}
        return frozenset({self.twilio_flex_chat_transfer_workflow_sid, *listed})

    @model_validator(mode="after")
    def _redis_urls_are_usable(self) -> Settings:
        """Every Redis URL parses, names its Sentinel master, and TLS settings have a TLS URL."""
        urls = {"REDIS_URL": self.redis_url, "CELERY_BROKER_URL": self.celery_broker_url}
        targets = []
        for name, url in urls.items():
            if url and (name == "REDIS_URL" or is_redis_url(url)):
                try:
                    targets.append(parse_redis_url(url, self.redis_sentinel_master))
                except ValueError as error:
                    raise ValueError(f"{name}: {error}") from None
        tls_given = self.redis_tls_ca_certs or self.redis_tls_certfile or self.redis_tls_keyfile
        if tls_given and not any(target.tls for target in targets):
            raise ValueError(
                "REDIS_TLS_* is set but no Redis URL asks for TLS (rediss://, rediss+sentinel://)"
            )
        return self

    @property
    def broker_url(self) -> str:
        return self.celery_broker_url or self.state_redis_url

    @property
    def state_redis_url(self) -> str:
        if not self.redis_url:
            raise RuntimeError(
                "REDIS_URL is not set; `chat-transfer up` and `demo` start an embedded Redis, "
                "other commands need REDIS_URL"
            )
        return self.redis_url

    @property
    def state_redis_target(self) -> RedisTarget:
        return parse_redis_url(self.state_redis_url, self.redis_sentinel_master)

    @property
    def rest_credentials(self) -> tuple[str, str]:
        if self.twilio_api_key and self.twilio_api_secret:
            return self.twilio_api_key, self.twilio_api_secret.get_secret_value()
        return self.twilio_account_sid, self.twilio_auth_token.get_secret_value()


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad setting, as an operator reads it."""
    first = error.errors()[0]
    if not first["loc"]:  # a rule across settings: its message names them
        return f"invalid settings: {str(first['msg']).removeprefix('Value error, ')}"
    name = str(first["loc"][0]).upper()
    if first["type"] == "missing":
        return f"missing required setting {name}"
    return f"invalid setting {name}: {first['msg']}"


def settings_from(env: Mapping[str, str], **overrides: Any) -> Settings:
    """Settings from an environment given as a mapping (a child process's), not this process's."""
    values = {name.lower(): value for name, value in env.items() if name.lower() in Settings.model_fields}
    return Settings(_env_file=None, **{**values, **overrides})  # type: ignore[call-arg]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]


def load_settings_or_exit(*, require_redis: bool = True) -> Settings:
    """Settings, or exit with one line naming the first missing or malformed one."""
    try:
        settings = get_settings()
    except ValidationError as error:
        _exit(describe_validation_error(error))
    if require_redis and not settings.redis_url:
        _exit("missing required setting REDIS_URL (or run `chat-transfer up`, which embeds one)")
    return settings


def _exit(message: str) -> NoReturn:
    print(f"chat-transfer: {message}", file=sys.stderr)
    raise SystemExit(2)
