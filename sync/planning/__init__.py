"""Pure planning: a validated record and a view of the internal database -> a decision.

One module per business type; a sixth type adds its module to ``BUSINESS_PLANNERS``.
"""

from __future__ import annotations

from sync.planning import back_payment, cancellation, change, enrolment, transfer_in

BUSINESS_PLANNERS = {"CBDJ": enrolment.plan, "BJ": back_payment.plan, "XXBG": change.plan,
                     "ZXDJ": cancellation.plan, "ZYZR": transfer_in.plan}
