"""``livewatch report``: check events again (with reviewers' dispositions) and write their reports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from livewatch.checking import check_event
from livewatch.cli.invocation import CliState, complete_event_ids, pass_state
from livewatch.errors import StateError
from livewatch.pipeline.run_status import FINAL
from livewatch.reports.render import publish, write_index
from livewatch.reports.reviews import audit_trail
from livewatch.rules.packs import PackLibrary
from livewatch.session import Session


@click.command()
@click.argument("events", nargs=-1, shell_complete=complete_event_ids)
@click.option("--no-clips", is_flag=True, help="Do not cut audio clips (faster; the report links none).")
@pass_state
def report(state: CliState, events: tuple[str, ...], no_clips: bool) -> None:
    """Re-check EVENTS (all when none are named), honouring reviews/<event-id>.yaml, and write each
    report.html with findings.json/.csv and the transcript files, then reports/index.html."""
    settings = state.settings
    library = PackLibrary(settings.rule_packs_dir)
    with Session.open(settings) as session:
        data, records = session.data, session.records
        known = records.event_ids()
        unknown = sorted(set(events) - known)
        if unknown:
            raise click.BadParameter(f"no such event: {', '.join(unknown)}", param_hint="EVENTS")
        failed = []
        for event_id in events or sorted(known):
            status = records.latest_status(event_id)
            try:
                check = check_event(session, event_id, library=library, audio=status in FINAL)
                page = publish(session, check, clips=not no_clips)
                notes = audit_trail(data, event_id).notes()
            except StateError as err:  # e.g. a link planted in its folder: the other events are still reported
                click.echo(f"error: {event_id}: {err}", err=True)
                failed.append(event_id)
                continue
            click.echo(f"{event_id}: {check.verdict}, {len(check.findings)} finding(s): {page}")
            for note in notes:
                click.echo(f"{event_id}: warning: {note}", err=True)
        click.echo(f"index: {write_index(session)}")
    if failed:
        raise StateError(f"no report for {', '.join(failed)} (see above)")


@click.command()
@click.argument("media", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--event", "event_id", required=True, help="Id of the registered event the recording is of.",
              shell_complete=complete_event_ids)
@click.option("--schedules", type=click.Path(path_type=Path, exists=True),
              help="Registration files (default: the configured schedules folder).")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
              help="Wall-clock time the recording starts (default: the event's registered start).")
@pass_state
def analyze(state: CliState, media: Path, event_id: str, schedules: Path | None, start: datetime | None) -> None:
    """Transcribe, check and report a recording as if it had been captured live for EVENT."""
    from livewatch.analyze import analyze_recording

    settings = state.settings
    result = analyze_recording(settings, media, event_id, schedules or settings.schedules_dir, start=start)
    frames = f", {result.frames} frame(s) read" if result.frames else ""
    click.echo(f"{event_id}: {result.segments} segment(s), {result.seconds:.0f} s{frames}; verdict "
               f"{result.check.verdict}, {len(result.check.findings)} finding(s)")
    click.echo(f"report: {result.report}")
