"""The review server's routes: sign-in, the index, each event's report with its review forms, the forms'
actions, the report folder's files, and a server-sent-events stream per event.

Every page needs a signed-in user (an anonymous visitor is sent to the sign-in page); every form carries the
session's token and a POST without it is refused (403); only the reviewer role may decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from livewatch import __version__
from livewatch.errors import LivewatchError, UnsafePathError
from livewatch.i18n import LANGUAGES, N_, Message, PageLanguage, page_language, translations
from livewatch.reports.render import index_context
from livewatch.reports.reviews import ReviewError
from livewatch.reports.template_context import ReportContext, ReviewView
from livewatch.review_server.cookies import COOKIE, CookieSigner, WebSession, new_session, server_secret
from livewatch.review_server.decisions import ACTIONS, Decision, DecisionError, decided_by, record, republish
from livewatch.review_server.passwords import hash_password, verify_password
from livewatch.review_server.watch_page import watch_routes
from livewatch.rules.packs import PackLibrary
from livewatch.session import Session
from livewatch.settings import Settings
from livewatch.templating import make_environment, message_html, render

#: Files of a report folder the server hands out (the page links them relatively).
REPORT_FILE = re.compile(r"^(findings\.json|findings\.csv|transcript\.srt|transcript\.vtt|"
                         r"clips/[0-9a-f]{16}\.ogg|frames/[0-9a-f]{16}\.jpg)$")
MEDIA_TYPES = {".json": "application/json", ".csv": "text/csv; charset=utf-8", ".srt": "text/plain; charset=utf-8",
               ".vtt": "text/vtt; charset=utf-8", ".ogg": "audio/ogg", ".jpg": "image/jpeg"}
#: How often the event stream looks for changed findings (seconds).
POLL_S = 1.0


@dataclass(frozen=True)
class LoginContext:
    """Context of ``login.html``."""

    title: str
    error: str
    csrf: str
    next: str
    version: str
    generated_at: str


class ReviewServer:
    """The settings, one open session over the data directory, and the pages last rendered per event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.signer = CookieSigner(server_secret())
        self.library = PackLibrary(settings.rule_packs_dir)
        self.environments = {language: make_environment(language=language) for language in LANGUAGES}
        self._session: Session | None = None
        self._open = threading.Lock()
        self._pages: dict[str, tuple[tuple[int, ...], ReportContext]] = {}
        # A name that is no account still costs one hash, so a wrong name and a wrong password take as long.
        self._dummy_hash = hash_password("not an account")

    def environment(self, event_language: str | None) -> jinja2.Environment:
        """The templates in the language of a page: an event's report (``event_language``) or a shared page."""
        return self.environments[page_language(self.settings.ui_language, event_language)]

    @property
    def session(self) -> Session:
        with self._open:
            if self._session is None:
                self._session = Session.open(self.settings)
            return self._session

    def close(self) -> None:
        with self._open:
            if self._session is not None:
                self._session.close()
                self._session = None

    # -- who is asking --------------------------------------------------------------------------------------

    def web_session(self, request: Request) -> WebSession:
        web = self.signer.load(request.cookies.get(COOKIE)) or new_session()
        header = self.settings.review.trusted_header
        if header:
            named = _utf8(request.headers.get(header, "")).strip()
            if named:
                account = {a.name: a for a in self.settings.review.accounts}.get(named)
                role = account.role if account else self.settings.review.trusted_header_role
                if web.user != named or web.role != role or not web.signed_in:
                    web = replace(web.signing_in(named, role, self.settings.review.session_hours), csrf=web.csrf)
        return web

    def check_password(self, name: str, password: str) -> str | None:
        """The account's role when the name and password match, else None."""
        account = {a.name: a for a in self.settings.review.accounts}.get(name)
        ok = verify_password(password, account.password_hash if account else self._dummy_hash)
        return account.role if account and ok else None

    def respond(self, response: Response, web: WebSession) -> Response:
        response.set_cookie(COOKIE, self.signer.dump(web), httponly=True, samesite="strict", path="/",
                            max_age=int(self.settings.review.session_hours * 3600))
        return response

    def view(self, web: WebSession, event_id: str | None) -> ReviewView:
        assert web.user is not None
        assert web.role is not None
        data = self.session.data
        return ReviewView(web.user, web.role, web.role == "reviewer", web.csrf,
                          f"/{event_id}/changes" if event_id else "",
                          decided_by(data, event_id) if event_id else {})

    # -- what is shown --------------------------------------------------------------------------------------

    def fingerprint(self, event_id: str) -> tuple[int, ...]:
        """Changes when the event's findings or decisions change (the monitor rewrites findings.json after
        every check; a reviewer or a hand edit rewrites the review file)."""
        data = self.session.data
        stamps: list[int] = []
        for path in (data.report_dir(event_id) / "findings.json", data.review_file(event_id)):
            try:
                stat = path.lstat()
                stamps += [stat.st_mtime_ns, stat.st_size]
            except FileNotFoundError:
                stamps += [0, 0]
        return tuple(stamps)

    def report(self, event_id: str) -> ReportContext:
        """The event's report context, checked and published again when its findings or decisions changed."""
        cached = self._pages.get(event_id)
        if cached is not None and cached[0] == self.fingerprint(event_id):
            return cached[1]
        context = republish(self.session, event_id, self.library)
        self._pages[event_id] = (self.fingerprint(event_id), context)
        return context

    def decide(self, decision: Decision) -> None:
        context = record(self.session, decision, self.library)
        self._pages[decision.event_id] = (self.fingerprint(decision.event_id), context)

    def known(self, event_id: str) -> bool:
        try:
            self.session.data.report_dir(event_id)
        except UnsafePathError:
            return False
        return event_id in self.session.records.event_ids()


def _utf8(header_value: str) -> str:
    """A header as the proxy sent it: HTTP headers come as latin-1 text, a name like 王审核 as UTF-8 bytes."""
    try:
        return header_value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return header_value


def _login_page(server: ReviewServer, web: WebSession, next_url: str, error: str = "", status: int = 200) -> Response:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    context = LoginContext(N_("livewatch — sign in"), error, web.csrf, next_url, __version__, now)
    page = render(server.environment(None), "login.html", context)
    return server.respond(HTMLResponse(page, status_code=status), web)


def _safe_next(value: object) -> str:
    text = value if isinstance(value, str) else ""
    return text if text.startswith("/") and not text.startswith("//") and "\\" not in text else "/"


def _token_ok(web: WebSession, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(sent.encode("utf-8"), web.csrf.encode("utf-8"))


def _refused_page(language: PageLanguage, why: str | Message, status: int = 403, **values: str) -> Response:
    """A refusal in the shared pages' language: ``why`` is a catalog message, with ``%(name)s`` for ``values``
    (an error's :class:`~livewatch.i18n.Message` carries its own); the values are data, shown as they are."""
    catalog = translations(language)
    text = message_html(why if isinstance(why, Message) else Message(why, values), catalog)
    return HTMLResponse(f'<!DOCTYPE html><html lang="{language}"><title>{escape(catalog.gettext(N_("refused")))}'
                        f"</title><p>{text}</p>", status_code=status)


def create_app(settings: Settings) -> Starlette:
    """The review server over the data directory ``settings`` name (its database opened on first use)."""
    language = page_language(settings.ui_language)

    def _refused(why: str, status: int = 403, **values: str) -> Response:
        return _refused_page(language, why, status, **values)

    server = ReviewServer(settings)

    def signed_in(request: Request) -> tuple[WebSession, Response | None]:
        web = server.web_session(request)
        if web.signed_in:
            return web, None
        if request.method != "GET":
            return web, server.respond(_refused(N_("sign in first")), web)
        target = "/login?next=" + quote(request.url.path)
        return web, server.respond(RedirectResponse(target, status_code=303), web)

    async def login(request: Request) -> Response:
        web = server.web_session(request)
        if request.method == "GET":
            return _login_page(server, web, _safe_next(request.query_params.get("next")))
        form = await request.form()
        if not _token_ok(web, form.get("csrf")):
            return server.respond(_refused(N_("the form's token is missing or stale; reload the page")), web)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        role = await run_in_threadpool(server.check_password, name, password)
        next_url = _safe_next(form.get("next"))
        if role is None:
            return _login_page(server, web, next_url, N_("wrong name or password"), 401)
        web = web.signing_in(name, role, settings.review.session_hours)
        return server.respond(RedirectResponse(next_url, status_code=303), web)

    async def logout(request: Request) -> Response:
        web = server.web_session(request)
        form = await request.form()
        if not _token_ok(web, form.get("csrf")):
            return server.respond(_refused(N_("the form's token is missing or stale; reload the page")), web)
        return server.respond(RedirectResponse("/login", status_code=303), web.signed_out())

    async def index(request: Request) -> Response:
        web, refused = signed_in(request)
        if refused:
            return refused
        context = replace(await run_in_threadpool(index_context, server.session), review=server.view(web, None))
        return server.respond(HTMLResponse(render(server.environment(None), "index.html", context)), web)

    async def report(request: Request) -> Response:
        web, refused = signed_in(request)
        if refused:
            return refused
        event_id = request.path_params["event_id"]
        if not await run_in_threadpool(server.known, event_id):
            return _refused(N_("no event %(event)s"), 404, event=event_id)
        context = await run_in_threadpool(server.report, event_id)
        page = render(server.environment(context.language), "report.html",
                      replace(context, review=server.view(web, event_id)))
        return server.respond(HTMLResponse(page), web)

    async def decide(request: Request) -> Response:
        web, refused = signed_in(request)
        if refused:
            return refused
        form = await request.form()
        if not _token_ok(web, form.get("csrf")):
            return server.respond(_refused(N_("the form's token is missing or stale; reload the page")), web)
        if web.role != "reviewer":
            return server.respond(_refused(N_("%(user)s may read, not decide (role %(role)s)"),
                                           user=str(web.user), role=str(web.role)), web)
        event_id, finding_id = request.path_params["event_id"], request.path_params["finding_id"]
        action = ACTIONS.get(str(form.get("action", "")))
        if action is None:
            return _refused(N_("unknown action; use one of %(actions)s"), 400, actions=", ".join(ACTIONS))
        if not await run_in_threadpool(server.known, event_id):
            return _refused(N_("no event %(event)s"), 404, event=event_id)
        assert web.user is not None
        note = str(form.get("note", "")).strip() or None
        try:
            await run_in_threadpool(server.decide, Decision(event_id, finding_id, action, web.user, note))
        except DecisionError as err:
            return server.respond(_refused_page(language, err.message, 400), web)
        except ReviewError as err:  # an invalid hand edit of the review file: nothing is written
            return server.respond(_refused_page(language, err.explained(), 409), web)
        except LivewatchError as err:  # e.g. the data directory refused a write: its own (English) words, as data
            return server.respond(_refused_page(language, Message(N_("the decision cannot be recorded: %(error)s"),
                                                                  {"error": str(err)}), 409), web)
        return server.respond(RedirectResponse(f"/{event_id}/report.html#finding-{finding_id}", 303), web)

    async def report_file(request: Request) -> Response:
        _, refused = signed_in(request)
        if refused:
            return refused
        event_id, name = request.path_params["event_id"], request.path_params["name"]
        if not REPORT_FILE.match(name) or not await run_in_threadpool(server.known, event_id):
            return _refused(N_("not found"), 404)
        data = server.session.data
        content = await run_in_threadpool(data.read_bytes, data.report_dir(event_id) / name)
        if content is None:
            return _refused(N_("not found"), 404)
        return Response(content, media_type=MEDIA_TYPES[name[name.rindex("."):]])

    async def changes(request: Request) -> Response:
        _, refused = signed_in(request)
        if refused:
            return refused
        event_id = request.path_params["event_id"]
        if not await run_in_threadpool(server.known, event_id):
            return _refused(N_("no event %(event)s"), 404, event=event_id)

        async def stream() -> AsyncIterator[str]:
            last = await run_in_threadpool(server.fingerprint, event_id)
            yield "retry: 3000\n: watching for changed findings\n\n"
            while not await request.is_disconnected():
                await asyncio.sleep(POLL_S)
                now = await run_in_threadpool(server.fingerprint, event_id)
                if now != last:
                    last = now
                    yield f"event: findings\ndata: {event_id}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        server.close()

    async def no_icon(_request: Request) -> Response:
        return Response(status_code=204)  # browsers ask for one; there is none to give

    routes = [
        Route("/", index),
        Route("/favicon.ico", no_icon),
        Route("/index.html", index),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        *watch_routes(server, _refused, signed_in, _token_ok),
        Route("/{event_id}/report.html", report),
        Route("/{event_id}/findings/{finding_id}", decide, methods=["POST"]),
        Route("/{event_id}/changes", changes),
        Route("/{event_id}/{name:path}", report_file),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.review_server = server
    return app
