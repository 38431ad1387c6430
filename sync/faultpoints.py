"""Named points where a test can kill the process, to prove a crash there loses nothing.

Set ``PB_KILL_AT=name[:n]`` and the process sends itself SIGKILL the n-th time (default 1st)
it passes ``name`` — the same as ``kill -9`` from outside, at a moment chosen exactly. Without
the variable every point is a no-op; the variable is read once.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_SPEC = os.environ.get("PB_KILL_AT", "")
_NAME, _, _NTH = _SPEC.partition(":")
_PASSED: Counter[str] = Counter()

POINTS = ("after_internal_commit", "after_batch", "after_seal", "after_writeback_post")
FERRY_POINTS = ("after_batch_archived", "after_batch_delivered", "after_batch_imported")


def reached(name: str) -> None:
    if not _NAME or name != _NAME:
        return
    _PASSED[name] += 1
    if _PASSED[name] == int(_NTH or 1):
        os.kill(os.getpid(), signal.SIGKILL)
