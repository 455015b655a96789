"""`tribe`: run the social network and operate its log and read models.

Every option also reads a TRIBE_* environment variable (see tribe/settings.py);
an option given on the command line wins.
"""

from __future__ import annotations

from typing import Any, Callable

import click
from aiohttp import web

from tribe.process import tune_gc
from tribe.settings import Settings

_COMMON = [
    click.option("--data-dir", type=click.Path(file_okay=False), help="Data directory [TRIBE_DATA_DIR, ./tribe-data]."),
    click.option("--log", "log_url", help="Event log: sqlite:///PATH or kafka://HOST:PORT[,...] [TRIBE_LOG]."),
    click.option("--store", "store_url", help="Read store: sqlite:///PATH or an Elasticsearch URL [TRIBE_STORE]."),
]


def storage_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The --data-dir, --log and --store options every command that touches data takes."""
    for option in reversed(_COMMON):
        command = option(command)
    return command


def settings_from(**options: Any) -> Settings:
    """Settings from the environment, read once, with the given command-line options on top."""
    return Settings.from_env().with_options(**options)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tribestream: a social network on streams.

    Every write is an immutable event in a log; every read comes from a read model
    folded from that log. With no configuration, everything runs in one process
    on local disk (./tribe-data).
    """
    tune_gc()


@main.command()
@click.option("--host", help="Listen address [TRIBE_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Listen port [TRIBE_PORT, 8080].")
@storage_options
def serve(**options: Any) -> None:
    """Run the HTTP API (the RealWorld Conduit API under /api, native events under /v1).

    On the embedded log (the default) the reducers run in this process too.
    """
    from tribe.app import create_app
    from tribe.logs import configure_logging

    settings = settings_from(**options)
    configure_logging(settings)
    click.echo(f"tribe serving on http://{settings.host}:{settings.port} (log {settings.log}, store {settings.store})", err=True)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)


@main.command()
@storage_options
def worker(**options: Any) -> None:
    """Run a projection worker: every read model, fed from Kafka into the store.

    Needs --log kafka://HOST:PORT[,HOST:PORT]. Start as many as you like with the same
    --log and --store: they share the partitions, and a restarted one resumes from the
    checkpoints in the store. A batch that keeps failing stops the worker (exit code 70)
    rather than skipping events.
    """
    from tribe.wiring import BadSetting
    from tribe.worker import run_worker

    try:
        run_worker(settings_from(**options))
    except BadSetting as exc:
        raise click.ClickException(str(exc)) from None


def _register_commands() -> None:
    from replay.cli import register

    register(main, storage_options, settings_from)


_register_commands()
