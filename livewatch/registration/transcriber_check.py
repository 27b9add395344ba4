"""The registration check that an event will be heard in its own language.

An English-only Whisper model given Mandarin writes fluent English that was never said, so every finding is
missed and the verdict is ``pass``: the most dangerous failure livewatch can have. Whichever setting would
force such a model on an event that is not in English (the registration's ``transcriber.model``, the
configuration's single ``[transcriber] model``) makes the event invalid, with the fix named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from livewatch.errors import ConfigError
from livewatch.issues import FieldPath, Issue
from livewatch.registration.loader import Registration

if TYPE_CHECKING:
    from livewatch.settings import Settings

SPOKEN = {"zh": "Mandarin (zh)", "auto": "a language to be detected (auto)"}


def check_transcriber_language(reg: Registration, settings: Settings) -> Iterator[Issue]:
    from livewatch.transcription.choice import plan_for
    from transcribers.store import ModelStore

    config = settings.transcriber
    event = reg.event
    if not config.enabled:
        return
    override = event.transcriber.model_dump(exclude_none=True) if event.transcriber else {}
    backend = override.get("backend")
    if backend and backend != config.backend:
        try:  # the [transcriber] table's backend keys must suit the backend this event picks
            config.options_for(backend)
        except ConfigError as err:
            where = ("transcriber", "backend")
            yield Issue(reg.file, reg.line_of(*where), (*reg.field, *where), str(err), code="backend-options",
                        event_id=event.id)
            return
    plan = plan_for(config, event.language, override)
    if plan.language == "en":
        return
    store = ModelStore(settings.model_store)
    if store.languages(plan.model).serves(plan.language):
        return
    spoken = SPOKEN.get(plan.language, plan.language)
    problem = (f"'{plan.model}' ({plan.model_source}) is an English-only Whisper model, but this event is spoken "
               f"in {spoken}: it would write English that was never said and miss every finding")
    path: FieldPath
    if override.get("model"):
        path = ("transcriber", "model")
        configured = config.model_for(plan.language)
        fix = (f"remove transcriber.model to use the configured '{configured}'"
               if store.languages(configured).serves(plan.language)
               else "name a multilingual model such as base or small")
    else:
        path = ("language",)
        fix = ("in the configuration, remove `model` from [transcriber] and name a model per language under "
               "[transcriber.models] (zh and auto: a multilingual model such as base), or register the event "
               "with `language: en` if it is held in English")
    yield Issue(reg.file, reg.line_of(*path), (*reg.field, *path), f"{problem}; {fix}",
                code="english-only-model", event_id=event.id)
