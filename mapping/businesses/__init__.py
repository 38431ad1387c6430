"""The business types, one module each, registered in ``registry``.

A sixth type: a module here with its payload model and rules, one ``register`` call below (or
wherever the type is shipped), and a planner module in ``sync/planning/``; see
docs/architecture.md, "How to add a business type".
"""

from __future__ import annotations

from mapping.businesses.back_payment import BackPayment
from mapping.businesses.cancellation import Cancellation
from mapping.businesses.change import Change
from mapping.businesses.enrolment import Enrolment
from mapping.businesses.registry import BusinessType, register
from mapping.businesses.transfer_in import TransferIn

# Their YWLX and labels are the deployment's: codes.toml [business_type], messages.zh.toml [biz_type].
for _rules in (Enrolment(), BackPayment(), Change(), Cancellation(), TransferIn()):
    register(BusinessType(code=_rules.code, rules=_rules))
