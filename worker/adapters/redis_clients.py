"""Redis clients built from settings: the one place that reads `REDIS_URL` and `CELERY_BROKER_URL`.

The URL forms accepted (README, "Settings"):

    redis://[[user]:password@]host[:port][/db]        one server
    rediss://[[user]:password@]host[:port][/db]       one server over TLS
    unix://[[user]:password@]/path/to/socket[?db=N]   one server on a local socket
    redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/master[/db]
    rediss+sentinel://…                               Sentinel; TLS to the sentinels and the master
    sentinel://[[user]:password@]host[:port][/db][;sentinel://host[:port]…]
                                                      Celery's and kombu's form; the master set is
                                                      named by REDIS_SENTINEL_MASTER

A sentinel's port defaults to 26379. In both Sentinel forms the credentials are the master's
(kombu's meaning); the sentinels' own password is REDIS_SENTINEL_PASSWORD. TLS is on exactly
when the scheme says so (`rediss`, `rediss+sentinel`); the REDIS_TLS_* settings give it its
certificates, for every client (state store, receiver, beat's lock, Celery's transport) alike.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from worker.adapters.replication import ReplicatedRedis, ReplicaWait

if TYPE_CHECKING:
    from worker.settings import Settings

SENTINEL_PORT = 26379
DIRECT_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel", "sentinel")
CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


@dataclass(frozen=True)
class RedisTarget:
    """Where a Redis URL points: one server, or the master of a set that Sentinel watches."""

    url: str
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    address: tuple[str, int] | str | None = None  # (host, port), or a socket's path
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str | None = None

    @property
    def is_sentinel(self) -> bool:
        return bool(self.sentinels)

    def same_database(self, other: RedisTarget) -> bool:
        """Whether both name the same database of the same server (or master set): then one Redis
        script can write keys of both, and a failover moves them together."""
        if self.db != other.db or self.is_sentinel != other.is_sentinel:
            return False
        if self.is_sentinel:
            return self.master == other.master and bool(set(self.sentinels) & set(other.sentinels))
        return self.address == other.address


def is_redis_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in DIRECT_SCHEMES + SENTINEL_SCHEMES


def parse_redis_url(url: str, master: str | None = None) -> RedisTarget:
    """Parse any accepted form; `master` is REDIS_SENTINEL_MASTER (Celery's `master_name`).

    Raises ValueError naming what is wrong."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in DIRECT_SCHEMES:
        return _direct(url, scheme)
    if scheme == "sentinel":
        return _kombu_sentinel(url, master)
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel(url, scheme, master)
    raise ValueError(f"not a Redis URL: {scheme or url!r} (redis, rediss, unix, redis+sentinel, sentinel)")


def _direct(url: str, scheme: str) -> RedisTarget:
    options = redis.connection.parse_url(url)  # redis-py's own reading, as `from_url` will do
    address: tuple[str, int] | str = (
        options["path"]
        if scheme == "unix"
        else (str(options.get("host", "localhost")).lower(), int(options.get("port", 6379)))
    )
    return RedisTarget(
        url=url,
        tls=scheme == "rediss",
        db=int(options.get("db", 0)),
        username=options.get("username"),
        password=options.get("password"),
        address=address,
    )


def _hosts(text: str) -> tuple[tuple[str, int], ...]:
    hosts = []
    for item in text.split(","):
        item = item.strip()
        if item.startswith("["):  # [v6]:port
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise ValueError("a sentinel's host is empty")
        if port and not port.isdigit():
            raise ValueError(f"a sentinel's port is not a number: {port!r}")
        hosts.append((host.lower(), int(port) if port else SENTINEL_PORT))
    return tuple(hosts)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, has_password, password = userinfo.partition(":")
    return (unquote(user) or None), (unquote(password) if has_password else None)


def _db(text: str) -> int:
    if not text:
        return 0
    if not text.isdigit():
        raise ValueError(f"the database must be a number, not {text!r}")
    return int(text)


def _named_master(in_url: str | None, setting: str | None) -> str:
    if in_url and setting and in_url != setting:
        raise ValueError(f"the URL names master {in_url!r} but REDIS_SENTINEL_MASTER is {setting!r}")
    master = in_url or setting
    if not master:
        raise ValueError("a Sentinel URL needs the master set's name (in the URL, or REDIS_SENTINEL_MASTER)")
    return master


def _sentinel(url: str, scheme: str, master: str | None) -> RedisTarget:
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    if "?" in path or "?" in netloc:
        raise ValueError("a Sentinel URL takes no query options (TLS comes from the REDIS_TLS_* settings)")
    userinfo, _, hosts = netloc.rpartition("@")
    username, password = _credentials(userinfo)
    name, _, db = path.strip("/").partition("/")
    return RedisTarget(
        url=url,
        tls=scheme == "rediss+sentinel",
        db=_db(db),
        username=username,
        password=password,
        sentinels=_hosts(hosts),
        master=_named_master(unquote(name) or None, master),
    )


def _kombu_sentinel(url: str, master: str | None) -> RedisTarget:
    """`sentinel://h1:26379/0;sentinel://h2:26379/0`: kombu reads credentials and the database
    from the first URL; so does this."""
    parts = [part.strip() for part in url.split(";") if part.strip()]
    sentinels = []
    first: Any = None
    for part in parts:
        parsed = urlsplit(part)
        if parsed.scheme.lower() != "sentinel":
            raise ValueError(f"every URL of a Sentinel list must be sentinel://, not {part!r}")
        if parsed.query:
            raise ValueError(
                "a Sentinel URL takes no query options (TLS comes from the REDIS_TLS_* settings)"
            )
        if not parsed.hostname:
            raise ValueError("a sentinel's host is empty")
        sentinels.append((parsed.hostname.lower(), parsed.port or SENTINEL_PORT))
        first = first or parsed
    return RedisTarget(
        url=url,
        db=_db(first.path.strip("/")),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password is not None else None,
        sentinels=tuple(sentinels),
        master=_named_master(None, master),
    )


# ---- settings → clients ----------------------------------------------------------------------------


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py's (and kombu's `broker_use_ssl`) names for the REDIS_TLS_* settings."""
    reqs = CERT_REQS[settings.redis_tls_cert_reqs]
    options: dict[str, Any] = {
        "ssl_cert_reqs": reqs,
        "ssl_check_hostname": settings.redis_tls_check_hostname and reqs != ssl.CERT_NONE,
    }
    for name, value in (
        ("ssl_ca_certs", settings.redis_tls_ca_certs),
        ("ssl_certfile", settings.redis_tls_certfile),
        ("ssl_keyfile", settings.redis_tls_keyfile),
    ):
        if value:
            options[name] = value
    return options


def sentinel_options(settings: Settings, target: RedisTarget, timeout: float = 2.0) -> dict[str, Any]:
    """How to talk to the sentinels themselves: short timeouts and one quick retry (a dead sentinel
    must not hold up finding the master), their password, and TLS when the URL asks for it."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
    }
    if settings.redis_sentinel_password:
        options["password"] = settings.redis_sentinel_password.get_secret_value()
    if target.tls:
        options.update(ssl=True, **tls_options(settings))
    return options


def replica_wait(settings: Settings) -> ReplicaWait | None:
    if not settings.redis_wait_replicas:
        return None
    return ReplicaWait(settings.redis_wait_replicas, settings.redis_wait_timeout_ms)


def redis_client(settings: Settings, target: RedisTarget | None = None, **options: Any) -> redis.Redis:
    """A client of `target` (default: the state Redis, REDIS_URL): a pool of connections to the one
    server, or to whichever server Sentinel names master now (found again after a failover).
    `options` are redis-py's (timeouts, decode_responses…). Its writes wait for
    REDIS_WAIT_REPLICAS replicas (see worker.adapters.replication)."""
    target = target or settings.state_redis_target
    tls = tls_options(settings) if target.tls else {}
    if target.is_sentinel:
        sentinel = Sentinel(
            list(target.sentinels),
            sentinel_kwargs=sentinel_options(settings, target, options.get("socket_connect_timeout", 2.0)),
        )
        credentials = {"username": target.username, "password": target.password}
        client: ReplicatedRedis = sentinel.master_for(
            target.master,
            redis_class=ReplicatedRedis,
            db=target.db,
            ssl=target.tls,
            **{k: v for k, v in credentials.items() if v is not None},
            **tls,
            **options,
        )
    else:
        client = ReplicatedRedis.from_url(target.url, **tls, **options)
    client.replica_wait = replica_wait(settings)
    return client


# ---- settings → Celery's transport -----------------------------------------------------------------


@dataclass(frozen=True)
class BrokerConfig:
    """What celeryconfig sets: `broker_url`, extra `broker_transport_options`, `broker_use_ssl`."""

    url: str
    transport_options: dict[str, Any] = field(default_factory=dict)
    use_ssl: dict[str, Any] | None = None


def kombu_sentinel_url(target: RedisTarget) -> str:
    """The `sentinel://…;sentinel://…` list kombu's Sentinel transport reads."""
    auth = ""
    if target.username or target.password:
        auth = quote(target.username or "", safe="") + (
            ":" + quote(target.password, safe="") if target.password is not None else ""
        )
        auth += "@"
    return ";".join(
        f"sentinel://{auth}{f'[{host}]' if ':' in host else host}:{port}/{target.db}"
        for host, port in target.sentinels
    )


def broker_config(settings: Settings, socket_timeout: float = 2.0) -> BrokerConfig:
    """Celery's broker from settings: any other broker (amqp://…) as it is; a Redis one with the
    same TLS certificates as the state store, and Sentinel in the form kombu documents
    (`sentinel://` URLs, `master_name` and `sentinel_kwargs` in the transport options)."""
    url = settings.broker_url
    if not is_redis_url(url):
        return BrokerConfig(url)
    target = parse_redis_url(url, settings.redis_sentinel_master)
    use_ssl = tls_options(settings) if target.tls else None
    if not target.is_sentinel:
        return BrokerConfig(url, use_ssl=use_ssl)
    return BrokerConfig(
        kombu_sentinel_url(target),
        {"master_name": target.master, "sentinel_kwargs": sentinel_options(settings, target, socket_timeout)},
        use_ssl,
    )


def broker_target(broker_url: str, transport_options: dict[str, Any]) -> RedisTarget | None:
    """Where a Celery app's broker is, when it is Redis (for the receiver's one-step intake)."""
    if not broker_url or not is_redis_url(broker_url):
        return None
    try:
        return parse_redis_url(broker_url, transport_options.get("master_name"))
    except ValueError:
        return None
