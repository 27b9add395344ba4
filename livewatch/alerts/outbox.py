"""The alert stage's outbox: the durable queue of deliveries, one row per alert and target.

Its rows live in the state database; :mod:`livewatch.state.outbox` keeps them (cooldown folding, row states
and crash recovery are described there). The alert stage reaches it through the :class:`AlertOutbox` port.
"""

from __future__ import annotations

from livewatch.state.outbox import (
    FAILED,
    MAX_FOLDED,
    PENDING,
    SENDING,
    SENT,
    AlertOutbox,
    OutboxRow,
    OutboxStore,
)

#: The outbox in the state database (the name the alert stage has always used).
Outbox = OutboxStore

__all__ = ["FAILED", "MAX_FOLDED", "PENDING", "SENDING", "SENT", "AlertOutbox", "Outbox", "OutboxRow", "OutboxStore"]
