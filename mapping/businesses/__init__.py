"""The business types, one module each. A sixth type: add a module and register it here,
then its planning rules in ``sync/planning/``."""

from __future__ import annotations

from mapping.businesses.back_payment import BackPayment
from mapping.businesses.base import Business
from mapping.businesses.cancellation import Cancellation
from mapping.businesses.change import Change
from mapping.businesses.enrolment import Enrolment
from mapping.businesses.transfer_in import TransferIn

BUSINESSES: dict[str, Business] = {b.code: b for b in
                                   (Enrolment(), BackPayment(), Change(), Cancellation(), TransferIn())}
