"""Pure planning: a validated record and a view of the internal database -> a decision.

One module per business type, each with ``plan`` (the rows to write, or why not) and
``compare`` (how existing internal business differs from the platform's, for matching),
registered in ``sync.planning.registry`` under the type's code. Importing this package
registers the five shipped types; a sixth type's planner module registers itself the same way.
"""

from __future__ import annotations

from sync.planning import back_payment, cancellation, change, enrolment, transfer_in

SHIPPED = (enrolment, back_payment, change, cancellation, transfer_in)
