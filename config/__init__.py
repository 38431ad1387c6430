"""Shipped configuration: code mappings, the regions served, the message catalogue.

Everything here is data. Python modules beside it only load the files.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


def data_path(name: str) -> Path:
    """Path of a file shipped in this package."""
    return Path(str(resources.files(__name__).joinpath(name)))


@cache
def load_toml(name: str) -> dict[str, Any]:
    """A TOML file of this package, parsed once."""
    with data_path(name).open("rb") as fh:
        return tomllib.load(fh)
