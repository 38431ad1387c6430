"""Pure planning: a validated record and a view of the internal database -> a decision.

One module per business type, each with ``plan`` (the rows to write, or why not) and
``compare`` (how existing internal business differs from the platform's, for matching).
A sixth type adds its module to ``BUSINESSES``.
"""

from __future__ import annotations

from sync.planning import back_payment, cancellation, change, enrolment, transfer_in

BUSINESSES = {"CBDJ": enrolment, "BJ": back_payment, "XXBG": change, "ZXDJ": cancellation, "ZYZR": transfer_in}
