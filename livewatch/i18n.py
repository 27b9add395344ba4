"""The pages' language: gettext catalogs (``livewatch/locale/<locale>/LC_MESSAGES/livewatch.po``) read at run
time with Babel, so the repository holds text catalogs only (no compiled ``.mo`` files, no build step).

English is the source language: its msgids are the templates' own wording, so ``en`` needs no catalog.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from io import BytesIO
from typing import Literal, Union

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from livewatch.errors import LivewatchError

#: The languages the pages are written in, as ``ui_language`` names them; ``event`` picks per page.
UiLanguage = Literal["zh-CN", "en", "event"]
PageLanguage = Literal["zh-CN", "en"]
LANGUAGES: tuple[PageLanguage, ...] = ("zh-CN", "en")
DOMAIN = "livewatch"
#: Pages that belong to no single event (the index, the schedule, the login page) under ``ui_language =
#: "event"``: English, the source language, so one setting never makes those pages change language as events
#: come and go; a desk that reads Chinese sets ``ui_language = "zh-CN"``.
SHARED_PAGE_LANGUAGE: PageLanguage = "en"
_EVENT_LANGUAGES: dict[str, PageLanguage] = {"zh": "zh-CN", "en": "en"}


def N_(message: str) -> str:
    """Mark a string for the catalog where it is made; it is translated where it is shown."""
    return message


#: A message's value: data shown as it is (a file name, a line number, a field path, a parser's text), another
#: message translated with it, or several values listed (with the catalog's list separator).
# Union: ``|`` cannot join the forward references of this recursive alias at run time.
MessageValue = Union[str, int, "Message", tuple["MessageValue", ...]]
LIST_SEPARATOR = "; "


def _same(text: str) -> str:
    return text


@dataclass(frozen=True)
class Message:
    """A catalog message and its values, for text made in Python that a page shows: ``str()`` is the English
    (the command line and the logs keep working), a page translates it (the ``message`` filter of
    :func:`livewatch.templating.make_environment`). ``msgid`` has ``%(name)s`` placeholders for ``values``;
    mark it with :func:`N_` where it is written, so the catalog holds it. With ``plural``, ``values["count"]``
    picks the form (``msgid`` and ``plural`` must then be in the catalog as one plural message, e.g. from a
    template's ``{% trans count=... %}``, since ``N_`` marks singular messages only)."""

    msgid: str
    values: Mapping[str, MessageValue] = field(default_factory=dict)
    plural: str | None = None

    def render(self, catalog: gettext.NullTranslations, *, text: Callable[[str], str] = _same,
               data: Callable[[str], str] = _same) -> str:
        """The message in ``catalog``'s language; ``text`` formats the catalog's words and ``data`` the values
        that are data (both for HTML: escaping, and marking the data as such)."""
        def shown(value: MessageValue) -> str:
            if isinstance(value, Message):
                return value.render(catalog, text=text, data=data)
            if isinstance(value, tuple):
                return text(catalog.gettext(LIST_SEPARATOR)).join(shown(item) for item in value)
            if isinstance(value, int):
                return str(value)
            return data(value)

        if self.plural is None:
            pattern = catalog.gettext(self.msgid)
        else:
            count = self.values.get("count", 0)
            pattern = catalog.ngettext(self.msgid, self.plural, count if isinstance(count, int) else 0)
        return text(pattern) % {name: shown(value) for name, value in self.values.items()}

    def __str__(self) -> str:
        return self.render(gettext.NullTranslations())


@dataclass(frozen=True)
class CategoryTitles:
    """How a rule pack titles one of its categories: ``title`` (the pack's own wording) and per page language."""

    title: str
    by_language: Mapping[str, str] = field(default_factory=dict)


def category_title(category: str, titles: Mapping[str, CategoryTitles], language: PageLanguage) -> str:
    """A category as a page in ``language`` shows it: the pack's title in that language, else the catalog's
    translation of its id, else the pack's ``title``, else the id. Data attributes and exports keep the id."""
    pack = titles.get(category)
    if pack is not None and pack.by_language.get(language):
        return pack.by_language[language]
    translated = translations(language).gettext(category) if category else category
    if translated != category:
        return translated
    return pack.title if pack is not None and pack.title else category


def page_language(setting: str, event_language: str | None = None) -> PageLanguage:
    """The language of one page: ``setting`` unless it is ``event``; then the event's spoken language (zh →
    zh-CN, en → en), and for ``auto``, an unknown language or no event the shared pages' language."""
    if setting in LANGUAGES:
        return setting
    if setting != "event":
        raise LivewatchError(f"ui_language '{setting}' is not one of zh-CN, en, event")
    return _EVENT_LANGUAGES.get(event_language or "", SHARED_PAGE_LANGUAGE)


def catalog_path(language: PageLanguage) -> str:
    return f"locale/{language.replace('-', '_')}/LC_MESSAGES/{DOMAIN}.po"


@cache
def translations(language: PageLanguage) -> gettext.NullTranslations:
    """The catalog of ``language`` (read once per process); English is the msgids themselves."""
    if language == "en":
        return gettext.NullTranslations()
    source = resources.files("livewatch").joinpath(catalog_path(language))
    try:
        with source.open("rb") as handle:
            catalog = read_po(handle, locale=language.replace("-", "_"), domain=DOMAIN)
    except (OSError, ValueError) as err:
        raise LivewatchError(f"livewatch's {language} catalog ({catalog_path(language)}) is unreadable: {err}") from err
    # Compiled in memory: gettext's classes read the .mo format, and the repository holds only the .po.
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


#: The machine words the pages show translated (the ``label`` filter): they stay English in data attributes,
#: findings.json and the CSV, and are listed here so the catalog holds them. A category is shown by its pack's
#: title (:func:`category_title`); the built-in pack's ids are here for packs that give no title in a language.
VOCABULARY = (
    # severities, finding statuses, verdicts
    N_("critical"), N_("high"), N_("medium"), N_("low"), N_("info"),
    N_("open"), N_("confirmed"), N_("dismissed"), N_("escalated"),
    N_("fail"), N_("review"), N_("pass"),
    # channels (the timeline's lanes)
    N_("speech"), N_("screen"), N_("audio"), N_("schedule"), N_("registration"), N_("stream"),
    # index statuses and capture runs
    N_("upcoming"), N_("live"), N_("done"), N_("failed"),
    N_("waiting"), N_("recording"), N_("reconnecting"), N_("searching"), N_("finished"), N_("no-show"),
    N_("incomplete"), N_("cancelled"), N_("unresolved"),
    # gap causes
    N_("ongoing"), N_("error"), N_("stalled"),
    # event kinds and participant roles; review roles
    N_("forum"), N_("annual-meeting"), N_("lecture"), N_("seminar"), N_("summit"), N_("launch"), N_("other"),
    N_("inspection"),
    N_("host"), N_("guest"), N_("moderator"), N_("reviewer"), N_("viewer"),
    # the built-in pack's categories (cn-live-events)
    N_("finance-promise"), N_("medical-claim"), N_("absolute-terms"), N_("ad-disclosure"),
    N_("traffic-diversion"), N_("tipping-inducement"), N_("minors"), N_("gambling-fraud"), N_("rumor"),
    N_("vulgarity"), N_("insult-doxxing"), N_("superstition"), N_("state-security"), N_("history-heroes"),
    N_("blacklisted-person"), N_("technical"),
    # platform category tags the registration docs name; the audit log's states
    N_("knowledge"), N_("commerce"), N_("entertainment"),
    N_("intact"), N_("BROKEN"), N_("with bad lines"),
    # the list separator of messages made in Python (livewatch.i18n.Message); a decision's fields
    N_("; "), N_("note"),
    # participants' registration problems (their codes; the whole message stays in the finding's evidence)
    N_("real-name-unknown"), N_("real-name-missing"), N_("host-age-unknown"), N_("host-under-16"),
    N_("guest-under-16"), N_("guardian-consent"), N_("blacklisted"), N_("credential-missing"),
)
