"""Replace the alerts job on redeploy: cancel running jobs of that name, then submit anew.

Standard library only, and self-contained: the stack runs this module's own source with
``python -c`` inside the alerts image, just before the image's submitter
(``python -m alerts.submit``), which skips submitting while a job of that name is active.
The submitter container is only re-created when the alerts image or its settings change,
so cancelling first is what makes a changed job actually run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

ACTIVE = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING")
ENDED = ("CANCELED", "FAILED", "FINISHED")


class ReplaceError(RuntimeError):
    """The REST API did not answer or a job did not stop in time."""


def jobs_to_cancel(overview: dict[str, Any], name: str) -> list[str]:
    """Ids of the jobs called ``name`` that are active, from GET /jobs/overview."""
    return [
        str(job["jid"])
        for job in overview.get("jobs", [])
        if job.get("name") == name and job.get("state") in ACTIVE
    ]


def _call(rest_url: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(f"{rest_url}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
    except (urllib.error.URLError, OSError) as err:
        raise ReplaceError(f"{method} {rest_url}{path} failed: {err}") from None
    return json.loads(raw) if raw else None


def cancel_named_jobs(rest_url: str, name: str, timeout_s: float = 120.0) -> list[str]:
    """Cancel every active job called ``name`` and wait until each has ended."""
    ids = jobs_to_cancel(_call(rest_url, "/jobs/overview"), name)
    for jid in ids:
        _call(rest_url, f"/jobs/{jid}?mode=cancel", "PATCH")
    deadline = time.monotonic() + timeout_s
    for jid in ids:
        while (state := _call(rest_url, f"/jobs/{jid}")["state"]) not in ENDED:
            if time.monotonic() > deadline:
                raise ReplaceError(f"job {name!r} ({jid}) still {state} after {timeout_s:g} s")
            time.sleep(0.5)
    return ids


def main() -> int:
    """Cancel the job named $JOB_NAME on $FLINK_REST_URL; one line on stdout or stderr."""
    rest_url, name = os.environ["FLINK_REST_URL"].rstrip("/"), os.environ["JOB_NAME"]
    try:
        ids = cancel_named_jobs(rest_url, name)
    except ReplaceError as err:
        sys.stderr.write(f"replace {name}: {err}\n")
        return 1
    sys.stdout.write(f"replace {name}: cancelled {len(ids)} running job(s) {ids}\n")
    return 0
