"""One frozen Settings object per process, read from the environment once (in the CLI) and checked.

Every setting is one field of `Settings`; its environment variable, command-line option and
meaning are the field's metadata, so the configuration table (`table()`, copied into the
README and checked against it by a test) is written once, here.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits

from events.routing import BadTopology, Topology

LOG_FORMATS = ("auto", "json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
WORKER_ENGINES = ("kafka", "faust")


class BadSetting(ValueError):
    """A setting has a value this build cannot use; the message names the variable and the problem."""


def _setting(default: Any, env: str, meaning: str, *, option: str = "", shown: str | None = None) -> Any:
    """A field with its documentation: the variable, the CLI option, the default as the table shows it."""
    shown = str(default) if shown is None else shown
    return field(default=default, metadata={"env": env, "option": option, "meaning": meaning, "shown": shown})


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = _setting(
        Path("tribe-data"), "TRIBE_DATA_DIR", "where the embedded log, store and JWT secret live",
        option="--data-dir", shown="./tribe-data",
    )
    host: str = _setting(
        "127.0.0.1", "TRIBE_HOST", "listen address of the API, and of a worker's HTTP port", option="--host"
    )
    port: int = _setting(8080, "TRIBE_PORT", "API listen port (1-65535)", option="--port")
    processes: int = _setting(
        1, "TRIBE_PROCESSES",
        "API processes `tribe serve` runs on its port, one core each; on the embedded log the first also folds it",
        option="--processes",
    )
    log_url: str | None = _setting(
        None, "TRIBE_LOG", "the event log: `sqlite:///PATH` or `kafka://HOST:PORT[,HOST:PORT]`",
        option="--log", shown="sqlite:///DATA_DIR/log.db",
    )
    store_url: str | None = _setting(
        None, "TRIBE_STORE", "the read store: `sqlite:///PATH` or `http(s)://HOST:9200` (Elasticsearch)",
        option="--store", shown="sqlite:///DATA_DIR/store.db",
    )
    parsed_docs_mb: int = _setting(
        32, "TRIBE_PARSED_DOCS_MB",
        "megabytes of documents (as JSON) each process keeps parsed from a SQLite store, served again while their "
        "versions stand; 0 keeps none",
    )
    jwt_secret: str | None = _setting(
        None, "TRIBE_JWT_SECRET", "HMAC key for access tokens; share it between API processes",
        shown="made once in DATA_DIR/jwt.secret",
    )
    key_store_url: str | None = _setting(
        None,
        "TRIBE_KEY_STORE",
        "where users' data keys live (crypto-shredding, docs/privacy.md): `sqlite:///PATH` or `redis://HOST:PORT`; "
        "every process of a deployment names the same one",
        shown="sqlite:///DATA_DIR/keys.db",
    )
    key_encryption_key: str | None = _setting(
        None,
        "TRIBE_KEY_ENCRYPTION_KEY",
        "the key that wraps users' data keys: 32 bytes, base64; share it between every process, keep it apart "
        "from the key store and its backups",
        shown="made once in DATA_DIR/key-encryption.key",
    )
    token_ttl: int = _setting(86400, "TRIBE_TOKEN_TTL", "access token lifetime, seconds")
    stream_ticket_ttl: int = _setting(
        60, "TRIBE_STREAM_TICKET_TTL",
        "seconds a ticket from `POST /v1/stream/tickets` opens live streams (`/v1/stream`) for",
    )
    stream_limit: int = _setting(
        5, "TRIBE_STREAM_LIMIT", "live streams (`/v1/stream`) a user may have open at once on one API process"
    )
    fanout_threshold: int = _setting(
        10_000, "TRIBE_FANOUT_THRESHOLD",
        "followers of an author (members of a tribe) from which their articles are read by pull instead of "
        "delivered to each timeline at publication",
    )
    fanout_wait: float = _setting(
        5.0, "TRIBE_FANOUT_WAIT",
        "seconds the fan-out waits for the follows, tribes and articles views to reach the log before deciding "
        "on what they hold",
    )
    write_wait: float = _setting(
        2.0, "TRIBE_WRITE_WAIT", "seconds a write waits for its projections before answering without them"
    )
    registration_wait: float = _setting(
        5.0, "TRIBE_REGISTRATION_WAIT",
        "seconds a registration waits for the users view (the log decides who gets a name) before answering 202",
    )
    cors_origins: tuple[str, ...] = _setting(
        ("*",), "TRIBE_CORS_ORIGINS",
        "origins browsers may call the API from, comma-separated; `*` allows any (tokens travel in a header)",
        shown="*",
    )
    rate_limit_storage: str = _setting(
        "memory://", "TRIBE_RATE_LIMIT_STORAGE",
        "where rate-limit counters live: `memory://` (this process) or `redis://HOST:PORT` (one budget per client "
        "across every API process that names it)",
    )
    rate_limit_reads: str = _setting(
        "1200/minute", "TRIBE_RATE_LIMIT_READS",
        "reads (GET) per user, or per IP address when anonymous: `N/second`, `N/minute`, `N/hour` or `N/day`",
    )
    rate_limit_writes: str = _setting(
        "120/minute", "TRIBE_RATE_LIMIT_WRITES", "writes (POST, PUT, DELETE) per user, or per IP address when anonymous"
    )
    rate_limit_login_ip: str = _setting(
        "60/minute", "TRIBE_RATE_LIMIT_LOGIN_IP", "logins and registrations per IP address"
    )
    rate_limit_login_email: str = _setting(
        "10/minute", "TRIBE_RATE_LIMIT_LOGIN_EMAIL", "logins and registrations per e-mail address"
    )
    log_format: str = _setting("auto", "TRIBE_LOG_FORMAT", "`json`, `console`, or `auto` (console on a terminal)")
    log_level: str = _setting("info", "TRIBE_LOG_LEVEL", "`debug`, `info`, `warning` or `error`")
    kafka_delivery_timeout: float = _setting(
        5.0, "TRIBE_KAFKA_DELIVERY_TIMEOUT", "seconds an append to Kafka may take before the API answers 503"
    )
    kafka_session_timeout: float = _setting(
        10.0, "TRIBE_KAFKA_SESSION_TIMEOUT", "seconds before a silent worker leaves its consumer group"
    )
    kafka_fetch_wait: float = _setting(
        1.5, "TRIBE_KAFKA_FETCH_WAIT",
        "longest a worker's fetch waits for new events; lower it on brokers that answer only when it runs out "
        "(Tansu: the benchmark uses 0.1)",
    )
    worker_group: str = _setting(
        "tribestream-projections", "TRIBE_WORKER_GROUP", "the workers' Kafka consumer group: one per store"
    )
    worker_engine: str = _setting(
        "kafka", "TRIBE_WORKER_ENGINE",
        "`kafka` (batches from librdkafka, offsets committed only after the store) or `faust` "
        "(slower; its offsets can pass a failing view's, and each assignment catches it up: docs/kafka.md)",
        option="--engine",
    )
    worker_instance_id: str | None = _setting(
        None, "TRIBE_WORKER_INSTANCE_ID",
        "static group membership (`group.instance.id`, kafka engine): a name unique to this worker that it "
        "keeps across restarts; a restart within the session timeout keeps its partitions without a rebalance",
        shown="none",
    )
    worker_port: int = _setting(
        9464, "TRIBE_WORKER_PORT",
        "a worker's HTTP port: `/metrics`, `/health/live`, `/health/ready` (0: none); each worker on a host needs "
        "its own",
    )
    ready_max_lag: int = _setting(
        10000, "TRIBE_READY_MAX_LAG",
        "events a view's live version may be behind the log (over all its partitions) before `/health/ready` "
        "answers 503",
    )
    kafka_replication_factor: int = _setting(
        3, "TRIBE_KAFKA_REPLICATION_FACTOR",
        "replicas of each topic the application creates; an existing topic with fewer stops the process",
    )
    kafka_min_insync_replicas: int = _setting(
        2, "TRIBE_KAFKA_MIN_INSYNC_REPLICAS",
        "replicas that must hold an append before it is acknowledged (`min.insync.replicas`, with `acks=all`); "
        "an existing topic with fewer stops the process",
    )
    partitions: Topology = _setting(
        Topology(), "TRIBE_PARTITIONS",
        "partitions per topic, `TOPIC=N` comma-separated (`tribe.articles=16,tribe.follows=8`); topics not named keep "
        "these defaults, and `tribe.users` stays 1 (the log decides who gets a name in one total order). Kafka topics "
        "are created with them and an existing topic with another count stops the process; the embedded log keeps "
        "the counts it was created with. Changing them: docs/kafka.md, \"Growing a topic\"",
    )
    projection_retries: int = _setting(
        4, "TRIBE_PROJECTION_RETRIES",
        "times a view's failing batch is retried before the events at fault are parked as dead letters "
        "(other failures are retried as long as they last)",
    )
    projection_backoff: float = _setting(
        0.5, "TRIBE_PROJECTION_BACKOFF",
        "seconds before a failing view's first retry, doubling with each retry up to 30 s; the other views go on",
    )
    admins: tuple[str, ...] = _setting(
        (), "TRIBE_ADMINS",
        "usernames or user ids allowed the admin routes (`/v1/admin/...`: the views' status and dead letters, "
        "shown on the operator page `/ops`), comma-separated; nobody when empty",
        shown="none",
    )
    moderators: tuple[str, ...] = _setting(
        (), "TRIBE_MODERATORS",
        "usernames or user ids allowed the moderator routes (`/v1/moderation/...`: the reports queue and "
        "decisions), comma-separated, besides those granted with `tribe moderators grant`; admins are not "
        "moderators unless named",
        shown="none",
    )
    moderation_words: tuple[str, ...] = _setting(
        (), "TRIBE_MODERATION_WORDS",
        "words (comma-separated, whole words, any case) for which the classifier hides a new or edited article "
        "or a new comment; none: it hides nothing",
        shown="none",
    )

    @property
    def log(self) -> str:
        return self.log_url or f"sqlite:///{self.data_dir / 'log.db'}"

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'store.db'}"

    @property
    def key_store(self) -> str:
        return self.key_store_url or f"sqlite:///{self.data_dir / 'keys.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from TRIBE_* variables (unset or empty: the default); raises BadSetting."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"], "")
            if raw != "":
                given[f.name] = _parse(f, raw)
        return cls(**given).checked()

    def with_options(self, **options: object) -> Settings:
        """These settings with the CLI options that were given (None means not given), checked again."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        given = {k: _parse(fields[k], str(v)) for k, v in options.items() if v is not None}
        return replace(self, **given).checked()

    def checked(self) -> Settings:
        """These settings, if every value is usable; otherwise BadSetting naming the first bad one."""
        if not 1 <= self.port <= 65535:
            raise BadSetting(f"TRIBE_PORT: {self.port} is not a port (1-65535)")
        if not 0 <= self.worker_port <= 65535:
            raise BadSetting(f"TRIBE_WORKER_PORT: {self.worker_port} is not a port (1-65535, or 0 for none)")
        if self.ready_max_lag < 0:
            raise BadSetting("TRIBE_READY_MAX_LAG: must be 0 or more")
        if self.parsed_docs_mb < 0:
            raise BadSetting("TRIBE_PARSED_DOCS_MB: must be 0 or more")
        _check_url("TRIBE_LOG", self.log, ("sqlite", "kafka"))
        _check_url("TRIBE_STORE", self.store, ("sqlite", "http", "https"))
        _check_url("TRIBE_KEY_STORE", self.key_store, ("sqlite", "redis", "rediss"))
        if self.key_encryption_key is not None and len(_base64(self.key_encryption_key)) != 32:
            raise BadSetting("TRIBE_KEY_ENCRYPTION_KEY: must be 32 bytes in base64 (e.g. `openssl rand -base64 32`)")
        if self.log_format not in LOG_FORMATS:
            raise BadSetting(f"TRIBE_LOG_FORMAT: {self.log_format!r} is not one of {', '.join(LOG_FORMATS)}")
        if self.log_level not in LOG_LEVELS:
            raise BadSetting(f"TRIBE_LOG_LEVEL: {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
        positive = (
            "token_ttl", "fanout_threshold", "write_wait", "registration_wait", "kafka_delivery_timeout",
            "kafka_session_timeout", "fanout_wait", "processes",
        )
        for name in (*positive, "kafka_fetch_wait", "projection_backoff", "stream_ticket_ttl", "stream_limit"):
            if getattr(self, name) <= 0:
                raise BadSetting(f"{_env_of(name)}: must be greater than 0")
        if self.worker_engine not in WORKER_ENGINES:
            raise BadSetting(f"TRIBE_WORKER_ENGINE: {self.worker_engine!r} is not one of {', '.join(WORKER_ENGINES)}")
        if self.projection_retries < 0:
            raise BadSetting("TRIBE_PROJECTION_RETRIES: must be 0 or more")
        if self.kafka_replication_factor < 1:
            raise BadSetting("TRIBE_KAFKA_REPLICATION_FACTOR: must be at least 1")
        if not 1 <= self.kafka_min_insync_replicas <= self.kafka_replication_factor:
            raise BadSetting(
                f"TRIBE_KAFKA_MIN_INSYNC_REPLICAS: {self.kafka_min_insync_replicas} must be between 1 and "
                f"TRIBE_KAFKA_REPLICATION_FACTOR ({self.kafka_replication_factor})"
            )
        if not self.cors_origins:
            raise BadSetting("TRIBE_CORS_ORIGINS: name at least one origin, or *")
        for origin in self.cors_origins:
            if origin != "*" and (urlsplit(origin).scheme not in ("http", "https") or not urlsplit(origin).netloc):
                raise BadSetting(f"TRIBE_CORS_ORIGINS: {origin!r} is not an origin like https://app.example")
        _check_url("TRIBE_RATE_LIMIT_STORAGE", self.rate_limit_storage, ("memory", "redis", "rediss"))
        for name in ("rate_limit_reads", "rate_limit_writes", "rate_limit_login_ip", "rate_limit_login_email"):
            rate = getattr(self, name)
            try:
                allowed = limits.parse(rate).amount
            except ValueError:
                allowed = 0
            if allowed < 1:
                raise BadSetting(f"{_env_of(name)}: {rate!r} is not a rate like 60/minute")
        return self


def _base64(text: str) -> bytes:
    """The bytes of standard or URL-safe base64 text; empty for text that is not base64."""
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        return b""


def _env_of(name: str) -> str:
    return str(next(f.metadata["env"] for f in dataclasses.fields(Settings) if f.name == name))


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    """One variable's text as the field's type, or BadSetting."""
    kind = str(f.type)
    if kind == "Topology":
        try:
            return Topology.parse(raw)
        except BadTopology as exc:
            raise BadSetting(f"{f.metadata['env']}: {exc}") from None
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return raw
    except ValueError:
        expected = "an integer" if kind == "int" else "a number"
        raise BadSetting(f"{f.metadata['env']}: {raw!r} is not {expected}") from None


def _port_of(host: str) -> int | None:
    """The port of `HOST[:PORT]`; ValueError when it is not a number."""
    return urlsplit(f"//{host}").port


def _check_url(env: str, url: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(url)
        for host in parts.netloc.split(","):
            _port_of(host)
    except ValueError as exc:
        raise BadSetting(f"{env}: {url!r} is not a URL ({exc})") from None
    if parts.scheme not in schemes:
        raise BadSetting(f"{env}: {url!r} must start with {' or '.join(s + '://' for s in schemes)}")
    if parts.scheme == "sqlite" and not url.startswith("sqlite:///"):
        raise BadSetting(f"{env}: {url!r} must be sqlite:///PATH")
    if parts.scheme in ("kafka", "http", "https") and not parts.netloc:
        raise BadSetting(f"{env}: {url!r} names no host")


def table() -> str:
    """The configuration table in Markdown, as the README shows it."""
    rows = ["| variable | option | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(Settings):
        option = f"`{f.metadata['option']}`" if f.metadata["option"] else ""
        rows.append(f"| `{f.metadata['env']}` | {option} | `{f.metadata['shown']}` | {f.metadata['meaning']} |")
    return "\n".join(rows)
