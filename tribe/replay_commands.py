"""`tribe replay`: rebuild, inspect, roll back and drop versions of read models.

Every command takes the same --data-dir, --log and --store as `tribe serve`, runs
beside a running server or workers, and never waits for a keypress.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click
import orjson
import structlog

from events.codec import EventCodec
from projections.views import VIEWS, View
from replay.parallel import process_helpers
from replay.rebuild import RebuildResult, ReplayError, Tick, drop, rebuild, rollback
from replay.versions import status
from tribe.bootstrap import adapters, helper_adapters, reset_store_layout
from tribe.logs import configure_logging
from tribe.settings import BadSetting, Settings

T = TypeVar("T")
log = structlog.get_logger("replay")
VIEW_NAMES = [v.name for v in VIEWS]


def _view(name: str) -> View:
    return next(v for v in VIEWS if v.name == name)


def _run(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    """Open the log, store and codec the settings name, run `work(log, store, codec)`, close them."""
    configure_logging(settings)

    async def main() -> T:
        async with adapters(settings) as (event_log, store, codec):
            return await work(event_log, store, codec)

    try:
        return asyncio.run(main())
    except (ReplayError, BadSetting) as exc:
        raise click.ClickException(str(exc)) from None


class _Ticker:
    """A progress bar on a terminal; a structured log line a second otherwise."""

    def __init__(self, view: str) -> None:
        self.view = view
        self.bar: Any = None
        self.task: Any = None
        self.last_line = 0.0

    def __enter__(self) -> _Ticker:
        if sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(f"rebuilding {self.view}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>10.0f} ev/s"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.view, total=None, rate=0.0)
        return self

    def __call__(self, tick: Tick) -> None:
        import time

        if self.bar is not None:
            self.bar.update(self.task, completed=tick.done, total=tick.total, rate=tick.rate)
        elif time.monotonic() - self.last_line >= 1.0 or tick.done == tick.total:
            self.last_line = time.monotonic()
            eta = tick.eta_seconds
            log.info(
                "progress",
                view=self.view,
                done=tick.done,
                total=tick.total,
                rate=round(tick.rate),
                eta_s=None if eta is None else round(eta, 1),
            )

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _report(result: RebuildResult) -> None:
    if result.differences:
        click.echo(f"{len(result.differences)} document(s) differ between v{result.previous} and v{result.version}:")
        for d in result.differences[:50]:
            click.echo(f"  {d.collection}/{d.doc_id}:")
            click.echo(f"    live    {orjson.dumps(d.live).decode() if d.live else '(missing)'}")
            click.echo(f"    rebuilt {orjson.dumps(d.rebuilt).decode() if d.rebuilt else '(missing)'}")
    elif result.differences is not None:
        click.echo(f"verified: v{result.version} equals the live v{result.previous}")
    state = "switched to" if result.switched else "built (not switched)"
    click.echo(
        f"{result.view}: {state} v{result.version} after {result.events} events in {result.seconds:.1f}s"
        + (
            f"; previous v{result.previous} kept until `tribe replay drop {result.view} {result.previous}`"
            if result.switched and result.previous
            else ""
        )
    )
    log.info(
        "rebuild",
        view=result.view,
        version=result.version,
        previous=result.previous,
        events=result.events,
        seconds=round(result.seconds, 3),
        switched=result.switched,
        differences=None if result.differences is None else len(result.differences),
    )


def _rebuild_every_view(settings: Settings, jobs: int) -> None:
    """`tribe replay --all`: empty a store of another layout (only while no one else has it open), rebuild every view.

    On a store of this layout the live versions keep serving while the new ones are built, as
    with `tribe replay VIEW`.
    """
    configure_logging(settings)
    try:
        replaced = reset_store_layout(settings)
    except BadSetting as exc:
        raise click.ClickException(str(exc)) from None
    if replaced is not None:
        click.echo(f"{settings.store}: emptied a store of layout {replaced}; rebuilding every view from the log")

    async def work(event_log: Any, store: Any, codec: EventCodec) -> list[RebuildResult]:
        results = []
        with process_helpers(functools.partial(helper_adapters, settings), jobs) as helpers:
            for view in VIEWS:
                with _Ticker(view.name) as ticker:
                    results.append(await rebuild(event_log, store, codec, view, on_tick=ticker, helpers=helpers))
        return results

    for result in _run(settings, work):
        _report(result)


def register(main: click.Group, storage_options: Callable[..., Any], settings_from: Callable[..., Settings]) -> None:
    """Add the `replay` command group to the CLI."""

    class ReplayGroup(click.Group):
        """`tribe replay VIEW` and `tribe replay --all` are short for `tribe replay build VIEW` and `build --all`."""

        def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
            if args and args[0] == "--all":
                args = ["build", *args]
            return super().parse_args(ctx, args)

        def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
            if args and args[0] not in self.commands and not args[0].startswith("-"):
                args = ["build", *args]
            return super().resolve_command(ctx, args)

    @main.group(cls=ReplayGroup)
    def replay() -> None:
        """Rebuild read models from the log, blue/green, with zero read downtime.

        `tribe replay VIEW` builds VIEW's next version from offset 0 while the live one keeps
        serving, then switches the aliases atomically. Views: users, follows, articles, tribes,
        notifications, trending, timelines, moderation.
        """

    @replay.command("build")
    @click.argument("view", type=click.Choice(VIEW_NAMES), required=False)
    @click.option(
        "--all",
        "every_view",
        is_flag=True,
        help="Rebuild every view, one after the other. A SQLite store of another layout (another release's) "
        "is emptied first, and only while no other process has it open.",
    )
    @click.option("--verify", is_flag=True, help="Compare with the live version first; switch only if they are equal.")
    @click.option("--dry-run", is_flag=True, help="Build (and verify) but do not switch.")
    @click.option("--version", "version", type=int, help="Build or continue this version number.")
    @click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=1,
        show_default=True,
        help="Processes replaying partitions at once (one core each).",
    )
    @storage_options
    def build(
        view: str | None, every_view: bool, verify: bool, dry_run: bool, version: int | None, jobs: int, **options: Any
    ) -> None:
        """Build VIEW's next version (or every view's, with --all) and switch to it once it has caught up."""
        if every_view and (view or verify or dry_run or version is not None):
            raise click.UsageError("--all rebuilds every view and switches to each: give no VIEW, --verify, "
                                   "--dry-run or --version with it")
        settings = settings_from(**options)
        if every_view:
            _rebuild_every_view(settings, jobs)
            return
        if view is None:
            raise click.UsageError("name a VIEW, or give --all")
        name = view

        async def work(event_log: Any, store: Any, codec: EventCodec) -> RebuildResult:
            with (
                _Ticker(name) as ticker,
                process_helpers(functools.partial(helper_adapters, settings), jobs) as helpers,
            ):
                return await rebuild(
                    event_log,
                    store,
                    codec,
                    _view(name),
                    version=version,
                    verify=verify,
                    switch=not dry_run,
                    on_tick=ticker,
                    helpers=helpers,
                )

        result = _run(settings, work)
        _report(result)
        if result.differences:
            raise SystemExit(3)

    @replay.command("status")
    @click.option(
        "--json", "as_json", is_flag=True,
        help="Print a JSON list (view, live_version, versions with their state, runners and dead letters, lag).",
    )
    @storage_options
    def status_command(as_json: bool, **options: Any) -> None:
        """List each view's versions, which one is live, lag per partition, and how the runtimes fare.

        Per version: its state (running, retrying, parked: it has dead letters, fenced: built by other
        code than every runtime heard from, idle: none heard from in a minute), each runtime's own
        state with its error, and the fingerprint of the code that builds it.
        """
        views = _run(settings_from(**options), lambda event_log, store, codec: status(event_log, store, VIEWS))
        if as_json:
            click.echo(orjson.dumps([v.as_json() for v in views], option=orjson.OPT_INDENT_2).decode())
            return
        for v in views:
            live = f"live v{v.live_version}" if v.live_version is not None else "no live version"
            installs = "" if v.versions else " (tribe serve or tribe worker installs it)"
            click.echo(f"{v.view}: {live}{installs}")
            for s in v.versions:
                behind = ", ".join(f"{tp}={n}" for tp, n in s.lag.items() if n) or "none"
                code = "this code" if s.this_code else "other code"
                click.echo(
                    f"  v{s.version}{' (live)' if s.live else ''}: {s.state}, lag {s.total_lag} ({behind}), "
                    f"{s.dead_letters} dead letter(s), built by {s.fingerprint or 'unrecorded code'} ({code})"
                )
                for r in s.runners:
                    attempts = f" after {r.attempts} attempt(s)" if r.attempts else ""
                    error = f": {r.error}" if r.error else ""
                    click.echo(f"    {r.runner} ({r.fingerprint}): {r.state}{attempts}{error}")

    @replay.command("rollback")
    @click.argument("view", type=click.Choice(VIEW_NAMES))
    @storage_options
    def rollback_command(view: str, **options: Any) -> None:
        """Point VIEW back at the previous version (caught up with the log first)."""
        live, previous = _run(
            settings_from(**options), lambda event_log, store, codec: rollback(event_log, store, codec, _view(view))
        )
        click.echo(f"{view}: rolled back from v{live} to v{previous}")

    @replay.command("drop")
    @click.argument("view", type=click.Choice(VIEW_NAMES))
    @click.argument("version", type=int)
    @storage_options
    def drop_command(view: str, version: int, **options: Any) -> None:
        """Delete a version of VIEW that is not live."""
        _run(settings_from(**options), lambda event_log, store, codec: drop(store, _view(view), version))
        click.echo(f"{view}: dropped v{version}")
