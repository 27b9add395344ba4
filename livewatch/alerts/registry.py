"""Channels by target type; the built-ins come in through the entry points like third-party ones."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from livewatch.alerts.base import Channel
from livewatch.errors import ConfigError
from livewatch.settings import AlertTarget

ENTRY_POINT_GROUP = "livewatch.alert_channels"
log = logging.getLogger(__name__)


class ChannelRegistry:
    def __init__(self, channels: list[type[Channel]] | None = None) -> None:
        self._channels: dict[str, type[Channel]] = {}
        for channel in channels if channels is not None else _installed_channels():
            self._channels[channel.type] = channel

    @property
    def types(self) -> list[str]:
        return sorted(self._channels)

    def channel_for(self, target: AlertTarget, environ: Mapping[str, str] | None = None) -> Channel:
        channel = self._channels.get(target.type)
        if channel is None:
            raise ConfigError(f"alert target {target.name!r}: no channel of type {target.type!r} is installed "
                              f"(installed: {', '.join(self.types)})")
        return channel(target, environ)


def _installed_channels() -> list[type[Channel]]:
    found: list[type[Channel]] = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception:  # a broken plugin must not take the monitor down
            log.exception("cannot load alert channel %s", entry.name)
            continue
        if isinstance(loaded, type) and issubclass(loaded, Channel):
            found.append(loaded)
        else:
            log.error("entry point %s does not name a Channel class", entry.name)
    return found
