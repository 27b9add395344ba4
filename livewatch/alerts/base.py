"""The one abstract method every delivery channel implements (what an alert is: :mod:`livewatch.pipeline.alerts`)."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from livewatch.errors import LivewatchError
from livewatch.pipeline.alerts import PAYLOAD_VERSION, Alert, AlertKind, utc_text
from livewatch.settings import AlertTarget

#: Least to most severe; routing compares ranks.
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


class AlertDeliveryError(LivewatchError):
    """A channel could not deliver. ``permanent``: retrying cannot help (a 4xx answer, a refused recipient);
    ``retry_after``: seconds the receiver asked us to wait."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


@dataclass(frozen=True)
class Delivery:
    """One attempt to hand an alert's payload to one target."""

    key: str
    target: str
    payload: Mapping[str, Any]
    attempt: int


TargetT = TypeVar("TargetT", bound=AlertTarget)


class Channel(ABC, Generic[TargetT]):
    """A way to reach a reviewer. Subclasses set ``type`` (the ``type`` of an ``[[alerts]]`` target) and
    implement :meth:`send`; they are registered under the entry-point group ``livewatch.alert_channels``.
    ``target_model`` is the channel's own configuration: a subclass of :class:`AlertTarget` adding the
    channel's keys, which validates the ``[[alerts]]`` entries of its type."""

    # Declared before ``type``, which names the class attribute below it, not the builtin.
    target_model: ClassVar[type[AlertTarget]] = AlertTarget
    type: ClassVar[str]

    def __init__(self, target: TargetT, environ: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.environ = os.environ if environ is None else environ

    @abstractmethod
    def send(self, delivery: Delivery) -> None:
        """Deliver or raise :class:`AlertDeliveryError`."""


__all__ = ["PAYLOAD_VERSION", "SEVERITY_RANK", "Alert", "AlertDeliveryError", "AlertKind", "Channel", "Delivery",
           "utc_text"]
