"""One frozen Settings object per process, read from the environment once (in the CLI).

| variable               | option        | default                      | meaning                                        |
|------------------------|---------------|------------------------------|------------------------------------------------|
| TRIBE_DATA_DIR         | --data-dir    | ./tribe-data                 | where the embedded log, store and secret live  |
| TRIBE_HOST             | --host        | 127.0.0.1                    | API listen address                             |
| TRIBE_PORT             | --port        | 8080                         | API listen port                                |
| TRIBE_LOG              | --log         | sqlite:///DATA_DIR/log.db    | the event log: sqlite:///PATH or kafka://HOST:PORT[,HOST:PORT] |
| TRIBE_STORE            | --store       | sqlite:///DATA_DIR/store.db  | the read store: sqlite:///PATH or http(s)://elasticsearch:9200 |
| TRIBE_JWT_SECRET       |               | made once in DATA_DIR/jwt.secret | HMAC key for access tokens                 |
| TRIBE_TOKEN_TTL        |               | 86400                        | access token lifetime in seconds               |
| TRIBE_WRITE_WAIT       |               | 2.0                          | seconds a write waits for its projections      |
| TRIBE_LOG_FORMAT       |               | auto                         | json, console, or auto (console on a terminal) |
| TRIBE_LOG_LEVEL        |               | info                         | debug, info, warning, error                    |
| TRIBE_KAFKA_DELIVERY_TIMEOUT |         | 5.0                          | seconds an append to Kafka may take before 503 |
| TRIBE_KAFKA_SESSION_TIMEOUT  |         | 10.0                         | seconds before a silent worker leaves its group |
| TRIBE_WORKER_GROUP     |               | tribestream-projections      | Kafka consumer group of the workers: one per store |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("tribe-data")
    host: str = "127.0.0.1"
    port: int = 8080
    log_url: str | None = None
    store_url: str | None = None
    jwt_secret: str | None = None
    token_ttl: int = 86400
    write_wait: float = 2.0
    log_format: str = "auto"
    log_level: str = "info"
    kafka_delivery_timeout: float = 5.0
    kafka_session_timeout: float = 10.0
    kafka_fetch_wait: float = 1.5
    worker_group: str = "tribestream-projections"

    @property
    def log(self) -> str:
        return self.log_url or f"sqlite:///{self.data_dir / 'log.db'}"

    @property
    def store(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'store.db'}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        base = cls()
        return cls(
            data_dir=Path(env.get("TRIBE_DATA_DIR", str(base.data_dir))),
            host=env.get("TRIBE_HOST", base.host),
            port=int(env.get("TRIBE_PORT", base.port)),
            log_url=env.get("TRIBE_LOG") or None,
            store_url=env.get("TRIBE_STORE") or None,
            jwt_secret=env.get("TRIBE_JWT_SECRET") or None,
            token_ttl=int(env.get("TRIBE_TOKEN_TTL", base.token_ttl)),
            write_wait=float(env.get("TRIBE_WRITE_WAIT", base.write_wait)),
            log_format=env.get("TRIBE_LOG_FORMAT", base.log_format),
            log_level=env.get("TRIBE_LOG_LEVEL", base.log_level),
            kafka_delivery_timeout=float(env.get("TRIBE_KAFKA_DELIVERY_TIMEOUT", base.kafka_delivery_timeout)),
            kafka_session_timeout=float(env.get("TRIBE_KAFKA_SESSION_TIMEOUT", base.kafka_session_timeout)),
            kafka_fetch_wait=float(env.get("TRIBE_KAFKA_FETCH_WAIT", base.kafka_fetch_wait)),
            worker_group=env.get("TRIBE_WORKER_GROUP", base.worker_group),
        )

    def with_options(self, **options: object) -> "Settings":
        """These settings with the CLI options that were given (None means not given)."""
        given = {k: v for k, v in options.items() if v is not None}
        if "data_dir" in given:
            given["data_dir"] = Path(str(given["data_dir"]))
        return replace(self, **given)  # type: ignore[arg-type]
