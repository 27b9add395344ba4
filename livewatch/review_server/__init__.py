"""``livewatch serve``: the reports, and reviewers' decisions taken in the browser (Starlette + uvicorn).

The review file ``reviews/<event-id>.yaml`` stays the source of truth: an action rewrites it (under a lock,
replaced whole) and re-checks the event exactly as ``livewatch report`` does, which appends the audit log
and writes the static pages again.
"""

from livewatch.review_server.app import create_app

__all__ = ["create_app"]
