"""``livewatch watch URL``: inspect a live broadcast now, without a registration (see
:mod:`livewatch.inspection`)."""

from __future__ import annotations

import getpass
import logging
import os
import signal
from pathlib import Path
from types import FrameType

import click

from livewatch.cli.invocation import CliState, pass_state
from livewatch.cli.monitor_commands import MONITOR_STOPPED
from livewatch.errors import LivewatchError, StateError
from livewatch.inspection import InspectionRequest, WrittenInspection, parse_duration, write_inspection
from livewatch.logs import logging_configured
from livewatch.monitor.inspection_run import InspectionRun
from livewatch.monitor.lock import RunningMonitor, running_monitor
from livewatch.session import data_dir

EXIT_OK, EXIT_INVALID = 0, 1


def _inspector(given: str | None) -> str:
    if given:
        return given
    name = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = ""
    if not name:
        raise click.UsageError("who is inspecting? $USER is not set; give --inspector NAME")
    return name


def _handed_over(written: WrittenInspection, holder: RunningMonitor, root: Path) -> None:
    event = written.event
    click.echo(f"handed over to the monitor running on {root} ({holder.describe()}): it reads the schedules "
               f"again within its reload interval (5 s by default) and records {event.streams[0].url} until "
               f"{event.end.isoformat(timespec='seconds')}; follow it with `livewatch status`", err=True)


@click.command()
@click.argument("url")
@click.option("--for", "duration", default="30m", show_default=True,
              help="How long to watch from now: 30m, 90s, 1h30m (at most 24h).")
@click.option("--title", help="Title of the inspection (default: 'Inspection of' the URL's host and path).")
@click.option("--language", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True,
              help="Spoken language, as a registration's language.")
@click.option("--pack", "packs", multiple=True, help="Rule pack to check against (repeatable; default: default).")
@click.option("--tip-from", help="Who reported the broadcast (a tip from the public).")
@click.option("--note", help="Why it is inspected: the tip's words, or the inspector's reason.")
@click.option("--inspector", help="Who is inspecting (default: $USER).")
@click.option("--schedules", type=click.Path(path_type=Path, file_okay=False),
              help="Registration folder; the inspection is written to its adhoc/ subfolder.")
@click.option("-v", "--verbose", count=True, help="The monitor's log lines too (-vv: debug).")
@pass_state
def watch(state: CliState, url: str, duration: str, title: str | None, language: str, packs: tuple[str, ...],
          tip_from: str | None, note: str | None, inspector: str | None, schedules: Path | None,
          verbose: int) -> None:
    """Inspect a live broadcast now, without a registration: written as an inspection under
    schedules/adhoc/ and handed to the running monitor, or (when none runs) recorded, transcribed, checked
    and reported here until the end of --for. Ctrl-C ends it early with the media, transcript and report
    saved; a second Ctrl-C stops at once."""
    settings = state.settings
    try:
        length = parse_duration(duration)
    except LivewatchError as err:
        raise click.BadParameter(str(err), param_hint="--for") from None
    request = InspectionRequest(url=url, duration=length, inspector=_inspector(inspector),
                                title=title, language=language, packs=packs, tip_from=tip_from, note=note)
    folder = schedules or settings.schedules_dir
    data = data_dir(settings)
    written = write_inspection(settings, request, folder)
    event = written.event
    click.echo(event.id)
    click.echo(f"inspection {event.id} written to {written.path}", err=True)
    holder = running_monitor(data.root)
    if holder is not None:
        _handed_over(written, holder, data.root)
        return
    click.get_current_context().with_resource(
        logging_configured(logging.WARNING - 10 * min(verbose, 2), "text"))
    inspection = InspectionRun(settings, [folder], event, progress=lambda line: click.echo(line, err=True))
    try:
        inspection.start()
    except StateError:
        # A monitor took the data directory meanwhile: the file is in its schedules, so it is handed over.
        inspection.monitor.shutdown()
        holder = running_monitor(data.root)
        if holder is None:
            raise
        _handed_over(written, holder, data.root)
        return
    click.echo(f"{event.id}: watching {url} until {event.end.isoformat(timespec='seconds')} "
               "(Ctrl-C ends it early, with everything saved)", err=True)

    def interrupted(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            inspection.monitor.request_stop()
            return
        click.echo(inspection.interrupt(), err=True)

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        outcome = inspection.run()
    finally:
        MONITOR_STOPPED.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"{event.id}: run {outcome.run_status or 'not started'}, {outcome.findings} finding(s)", err=True)
    if outcome.report is not None:
        click.echo(f"report: {outcome.report}")
    if not outcome.complete:
        raise click.exceptions.Exit(EXIT_INVALID)
