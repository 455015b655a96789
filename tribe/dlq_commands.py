"""`tribe dlq`: the views' dead letters (events parked because a view could not apply them), and what to do with them.

Every command takes the same --data-dir, --log and --store as `tribe serve`, runs beside a
running server or workers, and never waits for a keypress. `retry` and `skip` apply events
through the view's Projector with this code; a version built by other code is refused.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

from projections.dead_letters import DeadLetterError, DeadLetters, Retried
from projections.store import DeadLetter
from projections.views import VIEWS
from tribe.bootstrap import adapters
from tribe.logs import configure_logging
from tribe.settings import Settings

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[DeadLetters], Awaitable[T]]) -> T:
    """Open the log and the store the settings name, run `work` on their dead letters, close them."""
    configure_logging(settings)

    async def main() -> T:
        async with adapters(settings) as (log, store, codec):
            return await work(DeadLetters(log, store, codec, VIEWS))

    try:
        return asyncio.run(main())
    except DeadLetterError as exc:
        raise click.ClickException(str(exc)) from None


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _line(letter: DeadLetter) -> str:
    return (
        f"{letter.id}  key {letter.key}  {letter.state}"
        f"{f' x{letter.attempts}' if letter.attempts else ''}  since {_when(letter.first_failed_at)}  {letter.cause}"
    )


def _outcome(retried: Retried) -> None:
    if retried.skipped is not None:
        click.echo(f"skipped {retried.skipped.id}: it will never be applied")
    click.echo(f"applied {len(retried.applied)} parked event(s)")
    if retried.left_behind:
        click.echo(
            f"{', '.join(retried.left_behind)}: fed by several keys, these may not reflect them; "
            f"`tribe replay {retried.view}` rebuilds them exactly"
        )
    if retried.failed is not None:
        click.echo(f"failed again, still parked: {_line(retried.failed)}")
        raise SystemExit(1)


def register(main: click.Group, storage_options: Callable[..., Any], settings_from: Callable[..., Settings]) -> None:
    """Add the `dlq` command group to the CLI."""

    @main.group()
    def dlq() -> None:
        """Dead letters: events a view could not apply, parked with the later events of their key.

        A view whose batch keeps failing because of its events (bytes that do not decode, a reducer
        that raises, a document the store refuses) parks each such event after TRIBE_PROJECTION_RETRIES
        retries, and every later event of the same key behind it; every other key goes on. Fix the
        cause (deploy a fixed reducer, say), then `retry` the key, or `skip` an event for good. The
        same operations are on /v1/admin/dead-letters for the users TRIBE_ADMINS names.
        """

    @dlq.command("list")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list, each letter with its id.")
    @storage_options
    def list_command(as_json: bool, **options: Any) -> None:
        """Every dead letter: id, key, failed or behind, attempts, first failure, cause."""
        letters = _run(settings_from(**options), lambda dl: dl.letters())
        if as_json:
            listed = [{"id": x.id, **dataclasses.asdict(x)} for x in letters]
            click.echo(orjson.dumps(listed, option=orjson.OPT_INDENT_2).decode())
            return
        if not letters:
            click.echo("no dead letters")
        for letter in letters:
            click.echo(_line(letter))

    @dlq.command("show")
    @click.argument("letter_id")
    @storage_options
    def show_command(letter_id: str, **options: Any) -> None:
        """One dead letter, the event it holds, and its key's other letters."""
        shown = _run(settings_from(**options), lambda dl: dl.show(letter_id))
        click.echo(_line(shown.letter))
        if shown.event is not None:
            click.echo(f"event: {orjson.dumps(shown.event).decode()}")
        else:
            click.echo(f"undecodable bytes (first 64, hex): {shown.undecodable}")
        click.echo(f"its key's parked events, in order: {', '.join(x.id for x in shown.sequence)}")

    @dlq.command("retry")
    @click.argument("letter_id")
    @storage_options
    def retry_command(letter_id: str, **options: Any) -> None:
        """Replay the letter's key: every parked event of it, in order, through the view's Projector.

        The first that fails again stays parked (exit status 1), with the rest behind it.
        """
        _outcome(_run(settings_from(**options), lambda dl: dl.retry(letter_id)))

    @dlq.command("skip")
    @click.argument("letter_id")
    @storage_options
    def skip_command(letter_id: str, **options: Any) -> None:
        """Give up on the letter's event (it is never applied), and replay the rest of its key in order."""
        _outcome(_run(settings_from(**options), lambda dl: dl.skip(letter_id)))
