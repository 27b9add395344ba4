"""A capture run's status: the vocabulary every stage reads (the rules judge a no-show by it, reports and
alerts show it), so it lives with the messages rather than with the store that writes it."""

from __future__ import annotations

#: Run statuses. Active ones may be continued after a restart; the others are final.
WAITING, RECORDING, RECONNECTING = "waiting", "recording", "reconnecting"
#: Waiting, but the page answers and no source finds a stream in it: the organizer may be live unseen.
SEARCHING = "searching"
FINISHED, NO_SHOW, INCOMPLETE, FAILED, CANCELLED = "finished", "no-show", "incomplete", "failed", "cancelled"
#: The page answered all along but livewatch found no stream in it: our capture failure, not a no-show.
UNRESOLVED = "unresolved"
ACTIVE = (WAITING, SEARCHING, RECORDING, RECONNECTING)
FINAL = (FINISHED, NO_SHOW, INCOMPLETE, FAILED, CANCELLED, UNRESOLVED)
