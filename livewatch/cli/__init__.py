"""The ``livewatch`` command: a thin layer that builds objects, calls the package, and sets exit codes.

Exit codes: 0 success; 1 invalid registrations or a runtime failure; 2 a configuration or usage error.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from livewatch import __version__
from livewatch.cli import (
    alert_commands,
    db_commands,
    monitor_commands,
    report_commands,
    review_commands,
    rule_commands,
    scheduler_commands,
    transcribe_commands,
    watch_commands,
    worker_commands,
)
from livewatch.cli.invocation import CliState, hoist_global_options, pass_state
from livewatch.errors import ConfigError, LivewatchError
from livewatch.i18n import page_language
from livewatch.issues import Issue
from livewatch.monitor.status import database_present
from livewatch.registration import LoadResult, validate_registrations
from livewatch.registration.schema import registration_schema
from livewatch.reports.schedule_view import rows_as_dicts, schedule_context, schedule_rows
from livewatch.session import Session
from livewatch.state.database import describe_error
from livewatch.templating import make_environment, render
from livewatch.terminal import rich_safe
from livewatch.transcription.backends import livewatch_error
from transcribers.errors import TranscriberError

EXIT_OK, EXIT_INVALID, EXIT_CONFIG = 0, 1, 2


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


class _LivewatchGroup(click.Group):
    """Turns livewatch's own errors, and database or file-system errors that name their path, into one line
    and an exit code; anything else keeps its traceback. ``--config`` and ``--data`` may follow the
    subcommand too (officers type them where they think of them)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as err:
            _fail(str(err), EXIT_CONFIG)
        except LivewatchError as err:
            _fail(str(err), EXIT_INVALID)
        except TranscriberError as err:  # the model store, which `livewatch models` and exports call directly
            translated = livewatch_error(err)
            _fail(str(translated), EXIT_CONFIG if isinstance(translated, ConfigError) else EXIT_INVALID)
        except (SQLAlchemyError, sqlite3.Error) as err:
            # Hostile or damaged state met deep inside a command (a corrupt page only one query reads): the
            # known checks live in livewatch.state.database; this keeps the rest to one line as well.
            _fail(f"the state database{_in_data_dir(ctx)} failed: {describe_error(err)}", EXIT_INVALID)
        except OSError as err:
            if err.filename is None:
                raise
            _fail(f"{err.filename}: {err.strerror or err}", EXIT_INVALID)


def _in_data_dir(ctx: click.Context) -> str:
    state = ctx.find_object(CliState)
    where = state.known_data_dir() if state is not None else None
    return f" in {where}" if where is not None else ""




@click.group(cls=_LivewatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="livewatch")
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), envvar="LIVEWATCH_CONFIG",
              help="Global configuration file (default ./livewatch.toml).")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), envvar="LIVEWATCH_DATA",
              help="Data directory (default from the configuration, else ./data).")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, data: Path | None) -> None:
    """livewatch: compliance monitoring for live broadcasts of registered events.

    --config and --data may also be written after the subcommand. Shell completion (bash, zsh, fish):
    eval "$(_LIVEWATCH_COMPLETE=bash_source livewatch)"; see docs/operations.md."""
    ctx.obj = CliState(config=config, data=data)


def _print_issues(issues: list[Issue], *, err: bool) -> None:
    """Errors and warnings on one stream, in file and line order: ``validate``'s own output (stdout), or
    stderr beside a command whose output is something else (a table, JSON, HTML)."""
    for issue in issues:
        click.echo(issue.render(), err=err)


def _load(state: CliState, paths: tuple[Path, ...], strict: bool) -> LoadResult:
    targets = list(paths) or [state.settings.schedules_dir]
    return validate_registrations(targets, state.settings, strict=strict)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat registration warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_state
def validate(state: CliState, paths: tuple[Path, ...], strict: bool, fmt: str) -> None:
    """Check registration files (default: the schedules folder). Exit 0 when valid, 1 when not."""
    result = _load(state, paths, strict)
    errors = sum(issue.is_error for issue in result.issues)
    warnings = len(result.issues) - errors
    if fmt == "json":
        click.echo(json.dumps({
            "valid": result.ok,
            "files": [str(path) for path in result.files],
            "events": [reg.event.id for reg in result.registrations],
            "issues": [issue.to_dict() for issue in result.issues],
        }, ensure_ascii=False, indent=2))
    else:
        _print_issues(result.issues, err=False)
        verdict = "valid" if result.ok else "INVALID"
        click.echo(f"{verdict}: {len(result.files)} file(s), {len(result.registrations)} valid event(s), "
                   f"{errors} error(s), {warnings} warning(s)")
    if not result.ok:
        raise click.exceptions.Exit(EXIT_INVALID)


@cli.command()
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to a file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of registration files (for editors' YAML language servers)."""
    text = json.dumps(registration_schema(), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@cli.command()
@click.option("--schedules", type=click.Path(path_type=Path, exists=True), help="Registration folder.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table",
              show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to a file.")
@pass_state
def schedule(state: CliState, schedules: Path | None, fmt: str, output: Path | None) -> None:
    """List registered events: id, title, local start and end, status, streams."""
    result = _load(state, (schedules,) if schedules else (), strict=False)
    now = datetime.now(UTC)
    run_status: dict[str, str] = {}
    if database_present(state.settings):
        with Session.existing(state.settings) as session, session.database.reading():
            run_status = session.database.latest_run_status()
    rows = schedule_rows(result.registrations, now, run_status)
    text: str | None = None  # the table is printed as it is built
    if fmt == "json":
        # The problems travel with the events: a script reading only stdout still sees an invalid event.
        text = json.dumps({
            "valid": result.ok,
            "events": rows_as_dicts(rows),
            "issues": [issue.to_dict() for issue in result.issues],
        }, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "html":
        context = schedule_context(rows, [issue.render() for issue in result.issues], now)
        text = render(make_environment(language=page_language(state.settings.ui_language)), "schedule.html", context)
    else:
        _print_issues(result.issues, err=True)
        table = Table(title=f"{len(rows)} registered event(s)", show_lines=True)
        for column in ("id", "title", "local window", "status", "streams"):
            table.add_column(column, overflow="fold")
        for row in rows:
            # Titles and URLs are typed by people outside the project: never markup or terminal control.
            table.add_row(rich_safe(row.id), rich_safe(row.title), f"{rich_safe(row.window)}\n{row.timezone}",
                          row.status, "\n".join(rich_safe(stream) for stream in row.streams))
        Console(highlight=False).print(table)
    if text is not None and output is None:
        click.echo(text, nl=False)
    elif text is not None and output is not None:
        output.write_text(text, encoding="utf-8")
    if not result.ok:  # an invalid registration is not armed: say so in the exit status, whatever the format
        raise click.exceptions.Exit(EXIT_INVALID)


@cli.command()
@click.option("--work-dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the demo's configuration, schedule, data and report (default: a new temporary "
                   "folder). Global --config and --data do not apply: the demo brings its own.")
@click.option("--keep", is_flag=True, help="Also keep the synthesized speech and the origin's HLS segments.")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="zh: a Mandarin forum (Kokoro voices, Whisper base); en: an English one (espeak-ng, tiny.en).")
@click.option("--voices", metavar="HOST,GUEST",
              help="Kokoro voices of the Mandarin forum's host and guest (default jf_gongitsune,jm_kumo; also "
                   "jf_alpha, jf_nezumi, jf_tebukuro).")
@click.option("--short", is_flag=True, help="English only: a shorter forum, about 40 s of speech instead of 65 s.")
@click.option("--database-url", metavar="URL",
              help="Keep the demo's state in this PostgreSQL database instead of SQLite in the work folder: "
                   "postgresql+psycopg://user@host/dbname, with no password here (libpq reads $PGPASSWORD or "
                   "~/.pgpass). Written to the work folder's livewatch.toml.")
def demo(work_dir: Path | None, keep: bool, language: str, voices: str | None, short: bool,
         database_url: str | None) -> None:
    """Broadcast a simulated forum with planted violations live on 127.0.0.1 and monitor it end to end,
    offline: capture, Whisper transcription, rule checks and the report (about two minutes). The forum is in
    Mandarin unless --language en; its registration says only its language.
    Exit 1 when a planted violation is missed or clean talk raises a finding above low."""
    from livewatch.demo.run import DemoOptions, check_installation, model_store_in, run_demo, summarize
    from livewatch.demo.script import FORUM, SHORT_FORUM, ZH_VOICES, forum_zh

    if language == "zh":
        if short:
            raise click.UsageError("--short is for the English forum (--language en)")
        host, _, guest = (voices or ",".join(ZH_VOICES)).partition(",")
        script = forum_zh(host.strip(), guest.strip() or host.strip())
    else:
        if voices:
            raise click.UsageError("--voices is for the Mandarin forum (--language zh)")
        script = SHORT_FORUM if short else FORUM
    # soft_wrap: a long path stays on one line, whole, whatever the terminal's width.
    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[bold]livewatch {__version__}[/bold] demo")
    installation = check_installation(model_store_in(work_dir) if work_dir is not None else None, script)
    for tool, where in installation.tools.items():
        console.print(f"  {tool}: {where}")
    console.print(f"  offline Whisper model: {installation.model}")
    result = run_demo(DemoOptions(work_dir=work_dir, keep=keep, script=script, database_url=database_url),
                      console.print)
    summarize(result, console.print)
    click.echo(f"report: {result.report}")
    click.echo(f"index: {result.index}")
    if not result.ok:
        raise click.exceptions.Exit(EXIT_INVALID)


cli.add_command(monitor_commands.run)
cli.add_command(monitor_commands.status)
cli.add_command(watch_commands.watch)
cli.add_command(scheduler_commands.scheduler)
cli.add_command(transcribe_commands.transcribe)
cli.add_command(transcribe_commands.models)
cli.add_command(rule_commands.rules)
cli.add_command(report_commands.report)
cli.add_command(report_commands.analyze)
cli.add_command(alert_commands.alerts)
cli.add_command(db_commands.db)
cli.add_command(review_commands.serve)
cli.add_command(review_commands.review)
cli.add_command(worker_commands.worker)


def main() -> None:
    try:
        cli(prog_name="livewatch")
    except SystemExit as done:
        if not monitor_commands.MONITOR_STOPPED.is_set():
            raise
        # The monitor has stopped and saved everything. The interpreter's own exit would now collect the
        # whole heap and meet threads the shutdown abandoned (a peer that drips its answer): seconds past
        # the bound a SIGTERM promises. Nothing is left to do, so the process ends here.
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
