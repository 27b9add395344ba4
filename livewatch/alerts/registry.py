"""Channels by target type; the built-ins come in through the entry points like third-party ones."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livewatch.alerts.base import Channel
from livewatch.plugins import PluginError, Registry
from livewatch.settings import AlertTarget

ENTRY_POINT_GROUP = "livewatch.alert_channels"
#: Alert channels by the ``type`` an ``[[alerts]]`` target names.
CHANNELS: Registry[Channel[Any]] = Registry(ENTRY_POINT_GROUP, Channel, "alert channel")


class ChannelRegistry:
    """The channels a service may use: the installed ones, or the given ones (tests)."""

    def __init__(self, channels: list[type[Channel[Any]]] | None = None) -> None:
        self._channels = None if channels is None else {channel.type: channel for channel in channels}

    @property
    def types(self) -> list[str]:
        return CHANNELS.names() if self._channels is None else sorted(self._channels)

    def channel_for(self, target: AlertTarget, environ: Mapping[str, str] | None = None) -> Channel[Any]:
        if self._channels is None:
            try:
                channel = CHANNELS.get(target.type)
            except PluginError as err:
                raise PluginError(f"alert target {target.name!r}: {err}") from err
        else:
            found = self._channels.get(target.type)
            if found is None:
                raise PluginError(f"alert target {target.name!r}: no channel of type {target.type!r} "
                                  f"(available: {', '.join(self.types)})")
            channel = found
        if not isinstance(target, channel.target_model):  # settings validate each target with its channel's model
            raise PluginError(f"alert target {target.name!r} was not validated by the {target.type} channel's "
                              f"model ({channel.target_model.__name__})")
        return channel(target, environ)
