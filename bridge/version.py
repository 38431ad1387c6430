"""What this installation is: its version, the commit it was built from, its ledger schema head.

The commit is recorded at build time in ``bridge/_build.py`` (written by
``packaging/build_bundle.py`` into the copy of the source a wheel is built from, never into the
checkout); in a checkout without it, ``git rev-parse`` answers.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

DISTRIBUTION = "pension-bridge"
UNKNOWN = "unknown"


def version() -> str:
    """The installed distribution's version (``pyproject.toml``)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def commit() -> str:
    """The commit this code was built from: recorded in the wheel, else the checkout's HEAD."""
    try:
        from bridge import _build  # type: ignore[attr-defined]  # generated at build time only

        return str(_build.COMMIT)
    except ImportError:
        return _git_commit(Path(__file__).resolve().parent.parent) or UNKNOWN


def _git_commit(root: Path) -> str | None:
    if not (root / ".git").exists():
        return None
    try:
        found = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                               timeout=10, check=True)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def schema_head() -> str:
    """The head revision of the bridge's own tables, read from the packaged Alembic scripts."""
    from sync.ledger.migrate import head

    return head() or UNKNOWN


def describe() -> str:
    """One line: ``pension-bridge 0.1.0 (commit …, schema <head>)``."""
    return f"{DISTRIBUTION} {version()} (commit {commit()}, schema {schema_head()})"
