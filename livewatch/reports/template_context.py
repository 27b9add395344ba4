"""What ``report.html`` and ``index.html`` are given: documented dataclasses, one per template part
(every field's ``help`` is what a template author reads; a test keeps them documented)."""

from __future__ import annotations

from dataclasses import dataclass, field

from livewatch.i18n import CategoryTitles, Message


@dataclass(frozen=True)
class ParticipantFlag:
    """One registration problem of a participant."""

    code: str = field(metadata={"help": "The check's code (host-under-16, real-name-missing, blacklisted, ...)."})
    message: str = field(metadata={
        "help": "The check's message, in English (a translated page shows the code's translation instead; the "
        "registration finding's evidence keeps the whole message)."})


@dataclass(frozen=True)
class ParticipantView:
    """A registered participant as the report lists them."""

    name: str = field(metadata={"help": "Real name as registered."})
    role: str = field(metadata={"help": "host, guest or moderator."})
    credentials: list[str] = field(metadata={"help": "Credentials on file, as 'field: id'."})
    flags: list[ParticipantFlag] = field(metadata={
        "help": "Registration problems for this person (blacklist, age, ...)."})


@dataclass(frozen=True)
class ScreenView:
    """What a finding read on screen shows: its frame with the code or text boxed, and how long it stood."""

    image: str = field(metadata={
        "help": "The frame as a data: URI (a JPEG at most 480 px wide, the box drawn on it), embedded so the "
        "page stays one file; '' when the frame was not kept."})
    frame: str = field(metadata={"help": "The kept frame relative to the report (frames/<id>.jpg), or ''."})
    note: str = field(metadata={"help": "Why the frame was not kept (missing, refused, unreadable), or ''."})
    box: str = field(metadata={"help": "Where the code or text is in the kept frame: 'left,top,width,height' "
                                       "in its pixels, or '' when the finding has no box."})
    seconds: str = field(metadata={"help": "Seconds it was visible (the finding's end minus its start)."})
    visible: str = field(metadata={"help": "When it was visible, HH:MM:SS–HH:MM:SS in the event's time zone."})
    details: list[str] = field(metadata={
        "help": "The rule's details as 'key: value' (payload class, host, symbology, ...), each at most 200 "
        "characters."})


@dataclass(frozen=True)
class Lane:
    """One row of findings on the timeline: one channel."""

    channel: str = field(metadata={"help": "speech, screen, audio, schedule, registration or stream."})
    y: float = field(metadata={"help": "Vertical centre of the lane in the timeline's drawing."})


@dataclass(frozen=True)
class FindingView:
    """One finding as a row of the findings table and a marker on the timeline."""

    id: str = field(metadata={"help": "Stable finding id; the row's anchor is finding-<id>."})
    rule: str = field(metadata={"help": "Rule id."})
    pack: str = field(metadata={"help": "Pack as id@version."})
    category: str = field(metadata={"help": "Category id."})
    severity: str = field(metadata={"help": "critical, high, medium, low or info (after the ASR cap)."})
    status: str = field(metadata={"help": "open, confirmed, dismissed or escalated."})
    start: str = field(metadata={"help": "Start, ISO 8601 in the event's time zone."})
    clock: str = field(metadata={"help": "Start as HH:MM:SS in the event's time zone, for reading."})
    offset: str = field(metadata={"help": "Offset from the on-air start, as H:MM:SS."})
    before: str = field(metadata={"help": "Evidence text before the match."})
    match: str = field(metadata={"help": "The matched evidence text (highlighted)."})
    after: str = field(metadata={"help": "Evidence text after the match."})
    matched: str = field(metadata={"help": "The term or pattern that matched."})
    legal_basis: str = field(metadata={"help": "Legal basis of the rule or its category ('' when none)."})
    confidence: str = field(metadata={"help": "ASR confidence as a percentage, or '' for non-speech rules."})
    low_confidence: bool = field(metadata={"help": "The hit lies in a span the transcriber flagged."})
    clip: str = field(metadata={"help": "Audio clip file relative to the report, or '' when there is none."})
    transcript_anchor: str = field(metadata={"help": "Anchor of the transcript line it starts in, or ''."})
    x: float = field(metadata={"help": "Timeline position of the marker, 0-1000."})
    channel: str = field(metadata={
        "help": "Where the evidence comes from: speech, screen, audio, schedule, registration or stream."})
    y: float = field(metadata={"help": "Vertical position of the marker: the centre of its channel's lane."})
    screen: ScreenView | None = field(metadata={"help": "The frame and visibility of a screen finding, else None."})


@dataclass(frozen=True)
class TranscriptLine:
    """One utterance of the transcript."""

    anchor: str = field(metadata={"help": "The line's anchor, t-<n>."})
    clock: str = field(metadata={"help": "Start as HH:MM:SS in the event's time zone."})
    start: str = field(metadata={"help": "Start, ISO 8601."})
    text: str = field(metadata={"help": "What Whisper heard."})
    flagged: bool = field(metadata={"help": "The transcriber distrusted this line (low confidence, ...)."})
    findings: list[str] = field(metadata={"help": "Ids of findings that start in this line."})


@dataclass(frozen=True)
class Span:
    """A stretch of the timeline."""

    x: float = field(metadata={"help": "Left edge, 0-1000."})
    width: float = field(metadata={"help": "Width, 0-1000."})
    label: str = field(metadata={
        "help": "Its times (registered and on-air spans), its cause (a gap) or a tick's time; the template names it."})


@dataclass(frozen=True)
class FindingCounts:
    """How many findings an event has, counted the same way in the report and the index."""

    counted: int = field(metadata={"help": "Findings not dismissed (open, confirmed or escalated)."})
    dismissed: int = field(metadata={"help": "Findings a reviewer dismissed (shown, but not counted)."})
    critical_high: int = field(metadata={"help": "Critical and high findings not dismissed."})


@dataclass(frozen=True)
class VerdictReason:
    """One part of why the verdict is what it is: so many findings of a severity and status."""

    severity: str = field(metadata={"help": "critical, high, medium, low or info."})
    status: str = field(metadata={"help": "open, confirmed or escalated (dismissed findings give no reason)."})
    count: int = field(metadata={"help": "How many findings of this severity and status."})
    low_confidence: bool = field(metadata={
        "help": "These count because they lie in a span the transcriber flagged (a 'review' verdict)."})


@dataclass(frozen=True)
class ReviewLine:
    """One change of a finding's status, as the audit log records it."""

    at: str = field(metadata={"help": "When, ISO 8601."})
    finding: str = field(metadata={"help": "The finding's id."})
    before: str = field(metadata={"help": "Its status before (open, confirmed, dismissed or escalated)."})
    after: str = field(metadata={"help": "Its status after."})
    reviewer: str = field(metadata={"help": "Who changed it; '' when the review file was edited by hand."})
    note: str = field(metadata={"help": "The reviewer's note, or ''."})


@dataclass(frozen=True)
class AuditSummary:
    """The audit log's integrity at a glance."""

    entries: int = field(metadata={"help": "How many changes the log holds."})
    state: str = field(metadata={"help": "intact, BROKEN (the hash chain breaks) or 'with bad lines'."})
    head: str = field(metadata={"help": "The first 16 hex digits of the last line's sha256."})
    notes: list[Message] = field(metadata={
        "help": "Each skipped line and each place the chain breaks, by line number: catalog messages, shown "
        "with the message filter in the page's language (str() is the English)."})


@dataclass(frozen=True)
class DecisionNote:
    """A finding's decision as the review file holds it (shown under the finding on the review server)."""

    status: str = field(metadata={"help": "confirmed, dismissed, escalated or open."})
    reviewer: str = field(metadata={"help": "Who decided."})
    note: str = field(metadata={"help": "Why, or ''."})


@dataclass(frozen=True)
class ReviewView:
    """What the review server adds to a page (``livewatch serve``); the static files have none."""

    user: str = field(metadata={"help": "Who is signed in (the audit log's reviewer for their actions)."})
    role: str = field(metadata={"help": "reviewer (may decide) or viewer (read only)."})
    can_decide: bool = field(metadata={"help": "The review forms are shown (role reviewer)."})
    csrf: str = field(metadata={"help": "This session's form token; every form posts it back."})
    changes: str = field(metadata={
        "help": "URL of the event's server-sent events (a message when its findings change), or ''."})
    decisions: dict[str, DecisionNote] = field(default_factory=dict, metadata={
        "help": "Finding id → its status, who decided it and why, as the review file says."})


@dataclass(frozen=True)
class ReportContext:
    """Context of ``report.html``: everything a reviewer reads about one event."""

    title: str = field(metadata={"help": "Page title."})
    event: dict[str, str] = field(metadata={
        "help": "id, title, kind, category, organizer, timezone, window, notes (the registration's notes); "
                "for an inspection inspector, tip_from, note and requested_at (empty otherwise)."})
    streams: list[str] = field(metadata={"help": "Stream URLs."})
    participants: list[ParticipantView] = field(metadata={"help": "Registered participants."})
    verdict: str = field(metadata={"help": "fail, review or pass."})
    verdict_reasons: list[VerdictReason] = field(metadata={
        "help": "Why: the findings that make a 'fail' or 'review' verdict, by severity and status; [] for pass."})
    counts: FindingCounts = field(metadata={"help": "Findings counted and dismissed (as the index counts them)."})
    run_status: str = field(metadata={"help": "The capture run's status, or 'no run yet'."})
    live: bool = field(metadata={"help": "The event is being recorded now (the page refreshes itself)."})
    counts_by_severity: dict[str, int] = field(metadata={"help": "Findings not dismissed, by severity."})
    counts_by_category: dict[str, int] = field(metadata={"help": "Findings not dismissed, by category."})
    registered: Span = field(metadata={"help": "The registered window on the timeline."})
    on_air: list[Span] = field(metadata={"help": "On-air spans on the timeline."})
    gaps: list[Span] = field(metadata={"help": "Gaps on the timeline."})
    lanes: list[Lane] = field(metadata={
        "help": "The timeline's lanes of findings, one per channel: speech and screen always, then each other "
        "channel that has findings."})
    timeline_height: float = field(metadata={"help": "Height of the timeline's drawing (it grows with the lanes)."})
    axis: list[Span] = field(metadata={"help": "Tick marks (x and label) along the timeline."})
    axis_y: float = field(metadata={"help": "Vertical position of the tick labels."})
    findings: list[FindingView] = field(metadata={"help": "Findings in time order."})
    transcript: list[TranscriptLine] = field(metadata={"help": "The whole transcript."})
    health: dict[str, str] = field(metadata={"help": "Capture health: segments, bytes, reconnects, gaps."})
    gap_ledger: list[dict[str, str]] = field(metadata={"help": "Gaps: start, end, seconds, cause."})
    technical: dict[str, str] = field(metadata={"help": "Loudness and silence measurements ('' when not measured)."})
    provenance: dict[str, str] = field(metadata={"help": "Packs, transcriber, livewatch version, registration hash."})
    reviews: list[ReviewLine] = field(metadata={"help": "The review audit log, one line per change."})
    audit: AuditSummary | None = field(metadata={
        "help": "The audit log's integrity (entries, whether its hash chain is intact, the last line's sha256, "
        "problems by line number); None when there is no log."})
    generated_at: str = field(metadata={"help": "When the page was made, ISO 8601 with offset."})
    version: str = field(metadata={"help": "livewatch version that made the page."})
    review: ReviewView | None = field(default=None, metadata={
        "help": "The review server's session and forms; None in the static report.html."})
    categories: dict[str, CategoryTitles] = field(default_factory=dict, metadata={
        "help": "Category id → its pack's title and titles per language; show a category with "
        "category_id | category(categories) (the pack's title in the page's language, else the catalog's, "
        "else the pack's title, else the id)."})
    language: str = field(default="", metadata={
        "help": "The event's registered spoken language (zh, en or auto; '' when not registered): the page's "
        "language under ui_language = 'event'."})


@dataclass(frozen=True)
class IndexRow:
    """One event in the index."""

    id: str = field(metadata={"help": "Event id."})
    title: str = field(metadata={"help": "Event title."})
    status: str = field(metadata={"help": "upcoming, live, done or failed."})
    verdict: str = field(metadata={"help": "fail, review, pass, or '' before any check."})
    counts: FindingCounts = field(metadata={"help": "Findings counted and dismissed (as the report counts them)."})
    start: str = field(metadata={"help": "Registered start, ISO 8601 in the event's time zone."})
    window: str = field(metadata={"help": "Registered window for reading."})
    link: str = field(metadata={"help": "Relative link to the event's report ('' when there is none)."})


@dataclass(frozen=True)
class IndexContext:
    """Context of ``index.html``: every event, sortable and filterable in the page."""

    title: str = field(metadata={"help": "Page title."})
    rows: list[IndexRow] = field(metadata={"help": "Events, newest registered start first."})
    generated_at: str = field(metadata={"help": "When the page was made, ISO 8601 with offset."})
    version: str = field(metadata={"help": "livewatch version that made the page."})
    review: ReviewView | None = field(default=None, metadata={
        "help": "The review server's session; None in the static index.html."})
