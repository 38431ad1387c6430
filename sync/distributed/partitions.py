"""Which region prefixes a distributed run is cut into."""

from __future__ import annotations

from mapping.regions import Regions

LEVELS = {"county": 6, "township": 9}


def partitions(regions: Regions, level: str = "county") -> list[str]:
    """The known codes of ``level`` under each served prefix, in code order.

    A served prefix already at or below that level is a partition of its own. Transactions whose
    region is under no partition (an unknown or malformed code) are not lost: the coordinator's
    sweep of the served scopes picks them up after the partitions are done.
    """
    length = LEVELS[level]
    served = regions.prefixes or tuple(sorted({code[:2] for code in regions.table}))
    out: list[str] = []
    for prefix in served:
        if len(prefix) >= length:
            out.append(prefix)
            continue
        found = sorted(code for code in regions.table if len(code) == length and code.startswith(prefix))
        out.extend(found or [prefix])
    return list(dict.fromkeys(out))
