"""State shared by every ``livewatch`` command: the global options, and the settings they lead to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from livewatch.settings import Settings, load_settings
from livewatch.state.files import apply_privacy


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


pass_state = click.make_pass_decorator(CliState)
