"""State shared by every ``livewatch`` command: the global options, and the settings they lead to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from livewatch.errors import ConfigError
from livewatch.settings import Settings, load_settings
from livewatch.state.files import apply_privacy

#: The group's own options that may also be written after the subcommand (``livewatch status --data d``).
GLOBAL_OPTIONS = ("--config", "--data")


@dataclass
class CliState:
    config: Path | None
    data: Path | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            settings = load_settings(self.config)
            if self.data is not None:
                settings = settings.model_copy(update={"data_dir": self.data})
            apply_privacy(settings.private_files)  # before anything is written: files 0600, folders 0700
            self._settings = settings
        return self._settings

    def known_data_dir(self) -> Path | None:
        """The data directory, if known without loading the configuration (for error messages)."""
        return self._settings.data_dir if self._settings is not None else self.data

    def require_data_dir(self) -> None:
        """For commands that only read what the monitor recorded: a data directory that does not exist is a
        mistyped path (or the wrong configuration), not "nothing recorded yet". With ``database_url`` the
        state lives in that database, and the folder may well not exist."""
        settings = self.settings
        root = settings.data_dir
        if settings.database_url is None and not root.exists() and not root.is_symlink():
            raise ConfigError(f"data directory {root} does not exist; check --data (or data_dir in the "
                              "configuration). The monitor creates it on its first run; "
                              "`livewatch db migrate` creates it now")


pass_state = click.make_pass_decorator(CliState)


def hoist_global_options(args: Sequence[str]) -> list[str]:
    """``args`` with every global option (and its value) moved in front of the subcommand, so that
    ``livewatch status --data d`` means ``livewatch --data d status``. Nothing after ``--`` is moved."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg in GLOBAL_OPTIONS and index + 1 < len(args):
            front.extend(args[index:index + 2])
            index += 2
            continue
        if arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        index += 1
    return front + rest


def complete_event_ids(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion of an event id: the ids registered under the configured schedules folder (the
    ``--config`` already typed on the line counts). Completion must never fail, so any problem gives none."""
    from livewatch.registration import load_registrations

    root = ctx.find_root().params
    try:
        state = CliState(config=root.get("config"), data=root.get("data"))
        settings = state.settings
        loaded = load_registrations([settings.schedules_dir], settings.registration_context())
    except Exception:  # a broken configuration is reported when the command runs, not while typing it
        return []
    titles = {reg.event.id: reg.event.title for reg in loaded.registrations}
    return [CompletionItem(event_id, help=title) for event_id, title in sorted(titles.items())
            if event_id.startswith(incomplete)]
