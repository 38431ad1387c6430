"""``pension-bridge sandbox generate``: a realistic scenario for the sandbox platform.

A scenario holds the platform's transactions (current snapshots), the metadata of their
scans, the internal database's starting rows (people already enrolled, and business that
counter staff typed in by hand, some of it a double entry of platform business), and labels
saying which platform transactions a hand-typed row must be linked to.
"""

from __future__ import annotations

import copy
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from mapping import regions as regions_module
from mapping.types import now_local
from sandbox import codes, messy, people
from sandbox.internal_rows import InternalRows
from sandbox.scans import scan_bytes, sha256_hex, suffix

# The scenario's mix of the registered types the sandbox can make a realistic payload of.
BIZ_WEIGHTS = [("CBDJ", 40), ("BJ", 25), ("XXBG", 20), ("ZXDJ", 7), ("ZYZR", 8)]
GRADES = [Decimal(g) for g in ("100", "200", "300", "400", "500", "600", "800", "1000", "1500", "2000")]
CANCEL_REASONS = {"death": 60, "employee_pension": 25, "emigration": 10, "duplicate": 5}
FMT = "%Y-%m-%d %H:%M:%S"


def villages() -> list[tuple[str, str]]:
    table = regions_module.load_table(regions_module.shipped_tables())
    return [(code, r.name) for code, r in sorted(table.items()) if len(code) == 12]


class Generator:
    """Builds one scenario from a seed; the same seed gives the same scenario."""

    def __init__(self, n: int, seed: int, until: datetime, messy_share: float, double_share: float,
                 existing: int, days: int = 30, scan_size: tuple[int, int] = (2_000, 12_000),
                 region_prefixes: tuple[str, ...] = ()) -> None:
        self.rng = random.Random(seed)
        self.n, self.seed, self.until, self.days = n, seed, until, days
        self.messy_share, self.double_share = messy_share, double_share
        self.scan_size = scan_size
        self.villages = [v for v in villages() if not region_prefixes or v[0].startswith(region_prefixes)]
        self.internal = InternalRows(self.rng)
        self.enrolled: list[people.Person] = []
        self.txns: list[dict[str, Any]] = []
        self.attachments: dict[str, dict[str, Any]] = {}
        self.labels: dict[str, str] = {}
        self.messes: dict[str, str] = {}
        self.twins: dict[str, str] = {}  # a platform duplicate's txn_id -> the one it copies
        self._seq: dict[str, int] = {}
        self._existing = existing

    # --- people ----------------------------------------------------------------

    def _new_person(self) -> people.Person:
        code, name = self.rng.choice(self.villages)
        return people.make_person(self.rng, code, name, self.until.date())

    def _seed_existing(self) -> None:
        ids: set[str] = set()
        for _ in range(self._existing):
            person = self._new_person()
            while person.id_number in ids:  # AC01.AAC002 is unique: one person, one row
                person = self._new_person()
            ids.add(person.id_number)
            grade = self.rng.choice(GRADES)
            since = self.until.date() - timedelta(days=self.rng.randrange(60, 3000))
            self.internal.enrol(person, grade, since, paid_years=self._paid_years(person, since))
            self.enrolled.append(person)

    def _paid_years(self, person: people.Person, since: date) -> list[int]:
        return [y for y in range(since.year, self.until.year) if self.rng.random() < 0.7]

    # --- transactions ------------------------------------------------------------

    def _txn_id(self, region: str, when: datetime) -> str:
        key = f"{region[:6]}{when:%Y%m%d}"
        self._seq[key] = self._seq.get(key, 0) + 1
        if self._seq[key] > 9999:
            raise ValueError("more than 9,999 transactions a day in one county: spread them over more days")
        return f"RH{key}{self._seq[key]:04d}"

    def _attachment(self, kind: str) -> dict[str, Any]:
        attachment_id = f"F{len(self.attachments) + 1:08d}"
        content_type = self.rng.choice(["image/jpeg", "image/jpeg", "image/png", "application/pdf"])
        size = self.rng.randrange(*self.scan_size)
        digest = sha256_hex(scan_bytes(attachment_id, content_type, size, self.seed))
        self.attachments[attachment_id] = {"content_type": content_type, "size": size}
        return {"attachment_id": attachment_id, "kind": kind, "file_name": f"{kind}.{suffix(content_type)}",
                "content_type": content_type, "size": size, "sha256": digest}

    def _snapshot(self, biz: str, person: people.Person, when: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        """A transaction with the scans its business type requires (``sandbox.codes.scan_kinds``)."""
        kinds = codes.scan_kinds(biz, payload)
        agent_no = int(person.village[-3:]) + 100 * int(person.village[6:9])
        return {
            "txn_id": self._txn_id(person.village, when), "version": 1, "biz_type": biz,
            "status": "submitted", "seal_status": "unsealed",
            "created_at": when.strftime(FMT), "updated_at": when.strftime(FMT),
            "region_code": person.village,
            "agent": {"agent_id": f"A{agent_no:04d}", "name": people.agent_name(agent_no)},
            "person": {"id_number": person.id_number, "name": person.name, "gender": person.gender,
                       "ethnicity": person.ethnicity, "birth_date": person.birth_date.isoformat(),
                       "phone": person.phone, "hukou_type": person.hukou_type, "address": person.address},
            "payload": payload, "attachments": [self._attachment(k) for k in kinds], "remarks": "",
        }

    def _enrolment(self, when: datetime) -> dict[str, Any]:
        person = self._new_person()
        if self.rng.random() < 0.03 and self.enrolled:
            person = self.rng.choice(self.enrolled)  # 重复参保
        payload = {"grade": f"{self.rng.choice(GRADES):.2f}", "enroll_date": when.date().isoformat(),
                   "bank_account": people.bank_account(self.rng, person.name)}
        self.enrolled.append(person)
        return self._snapshot("CBDJ", person, when, payload)

    def _back_payment(self, when: datetime) -> dict[str, Any]:
        person = self.rng.choice(self.enrolled)
        paid = self.internal.paid_years(person.id_number)
        first = max(person.birth_date.year + 16, when.year - 14)
        free = [y for y in range(first, when.year) if y not in paid]
        if not free:
            return self._enrolment(when)
        years = sorted(self.rng.sample(free, min(len(free), self.rng.randint(1, 3))))
        grade = self.rng.choice(GRADES)
        payload = {"years": years, "grade": f"{grade:.2f}", "amount": f"{grade * len(years):.2f}"}
        self.internal.mark_paid(person.id_number, years)
        return self._snapshot("BJ", person, when, payload)

    def _change(self, when: datetime) -> dict[str, Any]:
        person = self.rng.choice(self.enrolled)
        field = self.rng.choice(["phone", "phone", "address", "grade", "bank_account", "name"])
        old, new = self.internal.current(person, field), self._new_value(person, field)
        return self._snapshot("XXBG", person, when, {"changes": [{"field": field, "old": old, "new": new}]})

    def _new_value(self, person: people.Person, field: str) -> Any:
        if field == "phone":
            return f"139{self.rng.randrange(10**8):08d}"
        if field == "address":
            return f"{person.address[:-1]}附{self.rng.randrange(1, 9)}号"
        if field == "grade":
            return f"{self.rng.choice(GRADES):.2f}"
        if field == "name":
            return person.name[0] + self.rng.choice(people.GIVEN) + self.rng.choice(people.GIVEN)
        return people.bank_account(self.rng, person.name)

    def _cancellation(self, when: datetime) -> dict[str, Any]:
        person = self.enrolled.pop(self.rng.randrange(len(self.enrolled)))
        reason = self.rng.choices(list(CANCEL_REASONS), list(CANCEL_REASONS.values()))[0]
        payload = {"reason": reason, "effective_date": (when.date() - timedelta(days=self.rng.randrange(1, 40))).isoformat()}
        return self._snapshot("ZXDJ", person, when, payload)

    def _transfer_in(self, when: datetime) -> dict[str, Any]:
        person = self._new_person()
        payload = {"from_region_code": self.rng.choice(["520102", "510104", "430102000000"]),
                   "account_balance": f"{self.rng.randrange(100, 3_000_000) / 100:.2f}",
                   "paid_years": self.rng.randint(1, 12), "transfer_doc_no": f"ZY{self.rng.randrange(10**10):010d}"}
        self.enrolled.append(person)
        return self._snapshot("ZYZR", person, when, payload)

    def _one(self, when: datetime) -> dict[str, Any]:
        biz = self.rng.choices([b for b, _ in BIZ_WEIGHTS], [w for _, w in BIZ_WEIGHTS])[0]
        if biz in ("BJ", "XXBG", "ZXDJ") and len(self.enrolled) < 5:
            biz = "CBDJ"
        return {"CBDJ": self._enrolment, "BJ": self._back_payment, "XXBG": self._change,
                "ZXDJ": self._cancellation, "ZYZR": self._transfer_in}[biz](when)

    # --- later versions, double entries, mess ---------------------------------------

    def _later_version(self, txn: dict[str, Any]) -> None:
        roll = self.rng.random()
        if roll < 0.03:
            self._bump(txn, status="withdrawn")
        elif roll < 0.06 and txn["person"].get("phone"):
            txn["person"]["phone"] = f"137{self.rng.randrange(10**8):08d}"
            self._bump(txn)

    def _bump(self, txn: dict[str, Any], status: str | None = None) -> None:
        later = datetime.strptime(txn["updated_at"], FMT) + timedelta(minutes=self.rng.randrange(5, 600))
        txn["updated_at"] = min(later, self.until - timedelta(minutes=3)).strftime(FMT)
        txn["version"] += 1
        txn["status"] = status or txn["status"]

    def _maybe_double(self, txn: dict[str, Any]) -> None:
        if txn["status"] != "submitted" or self.rng.random() >= self.double_share:
            return
        label = self.internal.hand_type(txn, self.rng)
        if label:
            self.labels[txn["txn_id"]] = label

    def _maybe_duplicate(self, txn: dict[str, Any]) -> dict[str, Any] | None:
        if self.rng.random() >= self.messy_share * 0.05:
            return None
        twin = copy.deepcopy(txn)
        twin["txn_id"] = self._txn_id(txn["region_code"], datetime.strptime(txn["created_at"], FMT))
        self.messes[twin["txn_id"]] = "platform_duplicate"
        self.twins[twin["txn_id"]] = txn["txn_id"]
        return twin

    def build(self) -> dict[str, Any]:
        self._seed_existing()
        start = self.until - timedelta(days=self.days)
        step = (self.days * 86400 - 900) / max(1, self.n)
        for i in range(self.n):
            when = (start + timedelta(seconds=int(i * step))).replace(microsecond=0)
            txn = self._one(when)
            self._later_version(txn)
            self._maybe_double(txn)
            if twin := self._maybe_duplicate(txn):
                self.txns.append(twin)
            if self.rng.random() < self.messy_share:
                self.messes[txn["txn_id"]] = messy.make_messy(txn, self.rng)
            self.txns.append(txn)
        self.txns.sort(key=lambda t: (str(t.get("updated_at")), t["txn_id"]))
        return {"seed": self.seed, "until": self.until.strftime(FMT), "transactions": self.txns,
                "attachments": self.attachments, "internal": self.internal.tables(),
                "labels": self.labels, "messes": self.messes, "twins": self.twins}


def generate(n: int, seed: int = 1, until: datetime | None = None, messy_share: float = 0.1,
             double_share: float = 0.08, existing: int | None = None, days: int = 30,
             region_prefixes: tuple[str, ...] = ()) -> dict[str, Any]:
    """A scenario of ``n`` platform transactions; see the module docstring."""
    until = (until or now_local()) - timedelta(minutes=10)
    count = existing if existing is not None else max(50, n // 2)
    return Generator(n, seed, until, messy_share, double_share, count, days,
                     region_prefixes=region_prefixes).build()
