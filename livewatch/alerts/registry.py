"""Channels by target type; the built-ins come in through the entry points like third-party ones."""

from __future__ import annotations

from collections.abc import Mapping

from livewatch.alerts.base import Channel
from livewatch.errors import ConfigError
from livewatch.plugins import installed
from livewatch.settings import AlertTarget

ENTRY_POINT_GROUP = "livewatch.alert_channels"


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
    return list(installed(ENTRY_POINT_GROUP, Channel).values())
