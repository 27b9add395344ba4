"""livewatch: a compliance monitor for live broadcasts of events featuring online celebrities.

Data flows one way: registration → capture segments → transcript → findings → report.
"""

from __future__ import annotations

from livewatch.errors import ConfigError, LivewatchError, RegistrationError, StateError

__version__ = "0.1.0"

__all__ = ["ConfigError", "LivewatchError", "RegistrationError", "StateError", "__version__"]
