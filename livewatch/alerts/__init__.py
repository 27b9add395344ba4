"""Live alerts: findings and schedule problems announced to reviewers while the event is still on air.

Data flows one way: the check service and the schedule watch raise :class:`Alert` objects; routing picks the
targets; the outbox (a database table) holds one delivery per alert and target until a channel delivers it.
"""

from livewatch.alerts.base import Alert, AlertDeliveryError, Channel, Delivery
from livewatch.alerts.outbox import Outbox
from livewatch.alerts.service import AlertService

__all__ = ["Alert", "AlertDeliveryError", "AlertService", "Channel", "Delivery", "Outbox"]
