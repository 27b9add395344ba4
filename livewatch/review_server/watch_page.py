"""The review server's "watch this URL" page: a signed-in reviewer starts an inspection (as ``livewatch
watch`` does: written under ``schedules/adhoc/`` for the monitor running on the data directory), and sees
the inspections running now. Viewers see the list only; the form needs the session's token like every form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from livewatch import __version__
from livewatch.errors import LivewatchError, RegistrationError
from livewatch.i18n import N_
from livewatch.inspection import ADHOC_FOLDER, InspectionRequest, parse_duration, write_inspection
from livewatch.monitor.lock import running_monitor
from livewatch.pipeline.run_status import FINAL
from livewatch.registration import load_registrations
from livewatch.registration.kinds import INSPECTION
from livewatch.reports.template_context import ReviewView
from livewatch.templating import render

if TYPE_CHECKING:
    from livewatch.review_server.app import ReviewServer
    from livewatch.review_server.cookies import WebSession

#: The form's fields, as ``livewatch watch`` names its options.
FIELDS = ("url", "duration", "title", "language", "packs", "tip_from", "note")
#: The form as a fresh page shows it.
DEFAULTS = {**dict.fromkeys(FIELDS, ""), "duration": "30m", "language": "auto"}
Refusal = Callable[..., Response]
SignedIn = Callable[[Request], "tuple[WebSession, Response | None]"]
TokenCheck = Callable[["WebSession", object], bool]


@dataclass(frozen=True)
class InspectionRow:
    """One inspection on the page."""

    id: str
    title: str
    url: str
    inspector: str
    tip_from: str
    note: str
    until: str
    status: str


@dataclass(frozen=True)
class WatchContext:
    """Context of ``watch.html``."""

    title: str
    review: ReviewView
    inspections: list[InspectionRow]
    #: The monitor holding the data directory ("" when none: an inspection then waits for one).
    monitor: str
    started: str
    error: str
    form: dict[str, str] = field(default_factory=dict)
    version: str = __version__
    generated_at: str = ""


def running_inspections(server: ReviewServer, now: datetime) -> list[InspectionRow]:
    """Inspections whose window is open or whose run is still going, newest first."""
    settings = server.settings
    folder = settings.schedules_dir / ADHOC_FOLDER
    if not folder.is_dir():
        return []
    loaded = load_registrations([folder], settings.registration_context())
    rows = []
    for reg in loaded.registrations:
        event = reg.event
        if event.kind != INSPECTION or event.inspection is None:
            continue
        run = server.session.runs.latest_run(event.id)
        status = run.status if run is not None else N_("waiting")
        if event.end <= now and (run is None or run.status in FINAL):
            continue
        asked = event.inspection
        rows.append(InspectionRow(event.id, event.title, event.streams[0].url, asked.inspector,
                                  asked.tip_from or "", asked.note or "",
                                  event.end.astimezone(event.zone).strftime("%Y-%m-%d %H:%M:%S"), status))
    return sorted(rows, key=lambda row: row.id, reverse=True)


def watch_routes(server: ReviewServer, refused: Refusal, signed_in: SignedIn, token_ok: TokenCheck) -> list[Route]:
    """``/watch``: the page (GET) and its form (POST)."""

    def page(web: WebSession, *, started: str = "", error: str = "", form: dict[str, str] | None = None,
             status: int = 200) -> Response:
        now = datetime.now(UTC)
        holder = running_monitor(server.session.data.root)
        context = WatchContext(N_("livewatch — watch a URL"), server.view(web, None),
                               running_inspections(server, now), holder.describe() if holder else "", started,
                               error, {**DEFAULTS, **(form or {})},
                               generated_at=now.isoformat(timespec="seconds"))
        html = render(server.environment(None), "watch.html", context)
        return server.respond(HTMLResponse(html, status_code=status), web)

    async def watch(request: Request) -> Response:
        web, refusal = signed_in(request)
        if refusal:
            return refusal
        if request.method == "GET":
            started = request.query_params.get("started", "")
            return await run_in_threadpool(lambda: page(web, started=started))
        form = await request.form()
        if not token_ok(web, form.get("csrf")):
            return server.respond(refused(N_("the form's token is missing or stale; reload the page")), web)
        if web.role != "reviewer":
            return server.respond(refused(N_("%(user)s may read, not start an inspection (role %(role)s)"),
                                          user=str(web.user), role=str(web.role)), web)
        given = {name: str(form.get(name, "")).strip() for name in FIELDS}
        try:
            asked = InspectionRequest(
                url=given["url"], duration=parse_duration(given["duration"] or "30m"), inspector=str(web.user),
                title=given["title"] or None, language=given["language"] or "auto",
                packs=tuple(given["packs"].replace(",", " ").split()),
                tip_from=given["tip_from"] or None, note=given["note"] or None)
            written = await run_in_threadpool(write_inspection, server.settings, asked,
                                              server.settings.schedules_dir)
        except RegistrationError as err:
            problems = "; ".join(f"{'.'.join(map(str, i.field))}: {i.message}" for i in err.issues)
            return await run_in_threadpool(lambda: page(web, error=problems, form=given, status=400))
        except LivewatchError as err:
            message = str(err)
            return await run_in_threadpool(lambda: page(web, error=message, form=given, status=400))
        return server.respond(RedirectResponse(f"/watch?started={written.event.id}", status_code=303), web)

    return [Route("/watch", watch, methods=["GET", "POST"])]
