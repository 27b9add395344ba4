"""Jinja2 for every HTML page livewatch writes.

``templates/`` sits at the top of the repository; the wheel carries it as ``livewatch/templates`` (see
``pyproject.toml``), so an installed livewatch finds it with :mod:`importlib.resources`. A source checkout
(editable install) has no ``livewatch/templates`` and uses the top-level folder instead.
"""

from __future__ import annotations

import dataclasses
import gettext
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from livewatch.errors import LivewatchError
from livewatch.i18n import Message, PageLanguage, category_title, translations

_CHECKOUT_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def builtin_templates_dir() -> Path:
    packaged = resources.files("livewatch") / "templates"
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    if _CHECKOUT_TEMPLATES.is_dir():
        return _CHECKOUT_TEMPLATES
    raise LivewatchError(
        "livewatch's HTML templates are missing from this installation; reinstall livewatch"
    )


def make_environment(override_dir: Path | None = None, language: PageLanguage = "en") -> jinja2.Environment:
    """Autoescaping, strict environment. Templates in ``override_dir`` win; ``default:name.html`` always
    names the built-in one, so an override can extend it. Pages are written in ``language`` (gettext:
    ``{% trans %}``, ``_()``, ``ngettext()``; the ``label`` filter translates a machine word such as a
    severity for display, leaving the data attributes English)."""
    builtin = jinja2.FileSystemLoader(builtin_templates_dir())
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders += [builtin, jinja2.PrefixLoader({"default": builtin}, delimiter=":")]
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    catalog = translations(language)
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True  # a {% trans %} block's line breaks are layout, not the message
    # gettext("") is the catalog's header: an empty word stays empty.
    env.filters["label"] = lambda word: catalog.gettext(word) if word else word
    env.filters["message"] = lambda message: message_html(message, catalog)
    env.filters["category"] = lambda category, titles: category_title(category, titles, language)
    env.globals["page_language"] = language
    return env


def message_html(message: Message | str, catalog: gettext.NullTranslations) -> Markup:
    """A message translated for a page, escaped, each value that is data in ``<span class="data">`` (a file
    name, a line number's neighbour, a parser's text: shown as it is, in any language); text passes as it is."""
    if isinstance(message, str):
        return escape(message)
    # Markup all through: the catalog's words escaped, each value escaped by Markup's own formatting.
    return escape(message.render(catalog, text=escape, data=Markup('<span class="data">{}</span>').format))


def render(env: jinja2.Environment, template: str, context: Any) -> str:
    """Render ``template`` with the fields of a context dataclass as its variables."""
    if not dataclasses.is_dataclass(context) or isinstance(context, type):
        raise TypeError("a template context must be a dataclass instance")
    values = {f.name: getattr(context, f.name) for f in dataclasses.fields(context)}
    return env.get_template(template).render(**values)
