"""The internal database's starting rows for a scenario: enrolled people and hand-typed business."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sandbox import codes
from sandbox.people import Person

GRADE_IDS = {Decimal(a): i for i, a in enumerate(
    ("100", "200", "300", "400", "500", "600", "700", "800", "900", "1000", "1500", "2000"), start=1)}
COUNTER = "柜面张敏(G001)"
FMT = "%Y-%m-%d %H:%M:%S"


def stamp(when: datetime) -> str:
    return when.strftime("%Y%m%d%H%M%S")


class InternalRows:
    """Rows per internal table, with identifiers allocated as ``XT_SEQ`` would."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.seq = {"AAC001": 1, "AAZ159": 1, "YWLSH": 1, "JFJL": 1}
        self.by_id: dict[str, dict[str, Any]] = {}
        self.paid: dict[str, set[int]] = defaultdict(set)  # by ID number
        self.owner: dict[str, str] = {}  # aac001 -> ID number
        self.typed: set[tuple[str, str]] = set()
        # aac001 -> its AC02 and AC_YHZH rows (the same dicts as in ``rows``): looked up for
        # every change and cancellation, which a scan of the lists made quadratic in N.
        self.enrolment_of: dict[str, dict[str, Any]] = {}
        self.bank_of: dict[str, dict[str, Any]] = {}

    def _next(self, name: str) -> int:
        value = self.seq[name]
        self.seq[name] += 1
        return value

    # --- people already enrolled ------------------------------------------------------

    def person_row(self, person: Person, when: datetime, name: str | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {"aac001": f"{person.village[:6]}{self._next('AAC001'):010d}", "aac002": person.id_number,
               "aac003": name or person.name, "aac004": "1" if person.gender == "M" else "2",
               "aac005": ETHNIC_CODES.get(person.ethnicity, "01"), "aac006": int(person.birth_date.strftime("%Y%m%d")),
               "aac009": "20" if person.hukou_type == "agricultural" else "10", "aab301": person.village,
               "aae005": person.phone, "aae006": person.address, "aae011": COUNTER, "aae036": stamp(when)}
        self.rows["ac01"].append(row)
        self.by_id[person.id_number] = row
        self.owner[row["aac001"]] = person.id_number
        return row

    def enrol(self, person: Person, grade: Decimal, since: date, paid_years: list[int],
              when: datetime | None = None, name: str | None = None, bank: dict[str, Any] | None = None) -> dict[str, Any]:
        when = when or datetime.combine(since, datetime.min.time()).replace(hour=10)
        row = self.person_row(person, when, name)
        enrolment = {
            "aaz159": self._next("AAZ159"), "aac001": row["aac001"], "aae140": "170", "aac008": "1", "aac031": "1",
            "aac049": since.year * 100 + since.month, "aac066": "011", "aaz289": GRADE_IDS[grade],
            "aae160": None, "aic301": None, "aae011": COUNTER, "aae036": stamp(when)}
        self.rows["ac02"].append(enrolment)
        self.enrolment_of.setdefault(row["aac001"], enrolment)
        bank = bank or {"bank_code": "102", "holder_name": row["aac003"],
                        "account_no": f"6222{self.rng.randrange(10**15):015d}"}
        account = {"aac001": row["aac001"], "aae008": bank["bank_code"], "aae009": bank["holder_name"],
                   "aae010": bank["account_no"], "aae011": COUNTER, "aae036": stamp(when)}
        self.rows["ac_yhzh"].append(account)
        self.bank_of.setdefault(row["aac001"], account)
        if paid_years:
            ywlsh = self.business(row["aac001"], codes.ywlx("BJ"), when)
            for year in paid_years:
                self.payment(row["aac001"], year, "10", grade, ywlsh)
        return row

    def business(self, aac001: str, ywlx: str, when: datetime, bgnr: Any = None, review: str = "1") -> str:
        ywlsh = f"YW{when:%Y%m%d}{self._next('YWLSH'):08d}"
        self.rows["ae_ywjl"].append({
            "ywlsh": ywlsh, "aac001": aac001, "ywlx": ywlx, "sjly": "1", "wblsh": None,
            "bgnr": json.dumps(bgnr, ensure_ascii=False) if bgnr is not None else None,
            "aae011": COUNTER, "aae036": stamp(when), "aae016": review,
            "aae015": stamp(when + timedelta(hours=2)) if review != "0" else None, "aae013": None,
            # The internal system seals on approval, except a change of data (信息变更): the missing seal.
            "qzzt": "1" if review == "1" and ywlx != codes.ywlx("XXBG") else "0"})
        return ywlsh

    def payment(self, aac001: str, year: int, kind: str, grade: Decimal, ywlsh: str) -> None:
        self.rows["ac_jfjl"].append({"jfjl_id": self._next("JFJL"), "aac001": aac001, "aae003": year,
                                     "aaa115": kind, "aae341": "1", "aae022": f"{grade:.2f}", "ywlsh": ywlsh})
        self.paid[self.owner[aac001]].add(year)

    def paid_years(self, id_number: str) -> set[int]:
        return set(self.paid.get(id_number, ()))

    def mark_paid(self, id_number: str, years: list[int]) -> None:
        self.paid[id_number].update(years)

    def current(self, person: Person, field: str) -> Any:
        """A field's value as the internal system holds it, in the platform's form."""
        row = self.by_id.get(person.id_number)
        if field == "grade":
            enrolment = self.enrolment_of.get(row["aac001"]) if row else None
            amount = next((a for a, i in GRADE_IDS.items() if enrolment and i == enrolment["aaz289"]), None)
            return f"{amount:.2f}" if amount else None
        if field == "bank_account":
            bank = self.bank_of.get(row["aac001"]) if row else None
            return {"bank_code": bank["aae008"], "account_no": bank["aae010"], "holder_name": bank["aae009"]} if bank else None
        column = {"phone": "aae005", "address": "aae006", "name": "aac003"}[field]
        return row[column] if row else getattr(person, field)

    # --- hand-typed copies of platform business -----------------------------------------

    def hand_type(self, txn: dict[str, Any], rng: random.Random) -> str | None:
        """Type ``txn`` in by hand as counter staff would; returns the label of what the bridge must do.

        One hand-typed copy per person and business type: two would be ambiguous by design.
        """
        key = (txn["person"]["id_number"], txn["biz_type"])
        if key in self.typed:
            return None
        self.typed.add(key)
        if txn["biz_type"] == "BJ" and rng.random() < 0.3:
            return self._near_miss(txn, rng)
        exact = rng.random() < 0.75
        when = datetime.strptime(txn["created_at"], FMT) + timedelta(hours=rng.randrange(-20, 48))
        typer = {"CBDJ": self._typed_enrolment, "ZYZR": self._typed_enrolment, "BJ": self._typed_back_payment,
                 "XXBG": self._typed_change, "ZXDJ": self._typed_cancellation}[txn["biz_type"]]
        return typer(txn, when, exact)

    def _typed_enrolment(self, txn: dict[str, Any], when: datetime, exact: bool) -> str | None:
        person = person_of(txn)
        if person.id_number in self.by_id:
            return None
        grade = Decimal(txn["payload"].get("grade", "100.00")) if txn["biz_type"] == "CBDJ" else Decimal("100")
        if not exact:
            grade = next(g for g in GRADE_IDS if g != grade)
        name = person.name.replace("·", "•") if "·" in person.name else person.name + " "
        # The counter types the enrol date from the paper form, as the agent did on the platform.
        since = date.fromisoformat(txn["payload"]["enroll_date"]) if txn["biz_type"] == "CBDJ" else when.date()
        row = self.enrol(person, grade, since, [], when=when, name=name,
                         bank=txn["payload"].get("bank_account") if txn["biz_type"] == "CBDJ" else None)
        self.business(row["aac001"], codes.ywlx(txn["biz_type"]), when, review="0")
        if txn["biz_type"] == "ZYZR":
            self._typed_transfer(txn, row["aac001"], exact)
        return "link" if exact else "conflict"

    def _near_miss(self, txn: dict[str, Any], rng: random.Random) -> str | None:
        """A back-payment of the same person typed a month earlier, for another year: must not link."""
        row = self.by_id.get(txn["person"]["id_number"])
        born = int(txn["person"]["birth_date"][:4])
        other = [y for y in range(max(born + 16, 2011), 2016) if y not in txn["payload"]["years"]
                 and y not in self.paid[txn["person"]["id_number"]]]
        if row is None or not other:
            return None
        when = datetime.strptime(txn["created_at"], FMT) - timedelta(days=rng.randrange(30, 90))
        ywlsh = self.business(row["aac001"], codes.ywlx("BJ"), when, review="1")
        self.payment(row["aac001"], other[0], codes.setting("payment", "back_payment"), Decimal(txn["payload"]["grade"]),
                     ywlsh)
        return "near_miss"

    def _typed_transfer(self, txn: dict[str, Any], aac001: str, exact: bool) -> None:
        payload = txn["payload"]
        balance = Decimal(payload["account_balance"]) + (0 if exact else 100)
        self.rows["ac_zyzr"].append({"ywlsh": self.rows["ae_ywjl"][-1]["ywlsh"], "aac001": aac001,
                                     "zcdq": payload["from_region_code"], "grzhye": f"{balance:.2f}",
                                     "jfnx": payload["paid_years"], "zypzh": payload["transfer_doc_no"]})

    def _typed_back_payment(self, txn: dict[str, Any], when: datetime, exact: bool) -> str | None:
        row = self.by_id.get(txn["person"]["id_number"])
        years = list(txn["payload"]["years"])
        if row is None or (not exact and len(years) < 2):
            return None
        years = years if exact else years[:-1]
        ywlsh = self.business(row["aac001"], codes.ywlx("BJ"), when, review="0")
        back = codes.setting("payment", "back_payment")
        for year in years:
            self.payment(row["aac001"], year, back, Decimal(txn["payload"]["grade"]), ywlsh)
        return "link" if exact else "conflict"

    def _typed_change(self, txn: dict[str, Any], when: datetime, exact: bool) -> str | None:
        row = self.by_id.get(txn["person"]["id_number"])
        change = txn["payload"]["changes"][0]
        if row is None or change["field"] not in ("phone", "address", "name"):
            return None
        new = change["new"] if exact else change["new"] + "1"
        column = {"phone": "aae005", "address": "aae006", "name": "aac003"}[change["field"]]
        row[column] = new
        self.business(row["aac001"], codes.ywlx("XXBG"), when, bgnr=[{"field": change["field"], "old": change["old"], "new": new}],
                      review="0")
        return "link" if exact else "conflict"

    def _typed_cancellation(self, txn: dict[str, Any], when: datetime, exact: bool) -> str | None:
        row = self.by_id.get(txn["person"]["id_number"])
        enrolment = self.enrolment_of.get(row["aac001"]) if row else None
        if row is None or enrolment is None:
            return None
        reason = txn["payload"]["reason"] if exact else ("death" if txn["payload"]["reason"] != "death" else "emigration")
        effective = date.fromisoformat(txn["payload"]["effective_date"])
        enrolment.update({"aac008": codes.setting("enrolment", "terminated"),
                          "aac031": codes.setting("enrolment", "stopped"), "aae160": codes.termination(reason),
                          "aic301": effective.year * 100 + effective.month})
        self.business(row["aac001"], codes.ywlx("ZXDJ"), when, review="0")
        return "link" if exact else "conflict"

    def tables(self) -> dict[str, Any]:
        return {**{k: v for k, v in self.rows.items()}, "xt_seq": dict(self.seq)}


def person_of(txn: dict[str, Any]) -> Person:
    p = txn["person"]
    return Person(id_number=p["id_number"], name=p["name"], gender=p["gender"], ethnicity=p["ethnicity"],
                  birth_date=date.fromisoformat(p["birth_date"]), phone=p["phone"], hukou_type=p["hukou_type"],
                  address=p["address"], village=txn["region_code"])


ETHNIC_CODES = {"汉族": "01", "蒙古族": "02", "回族": "03", "苗族": "06", "彝族": "07", "壮族": "08",
                "白族": "14", "哈尼族": "16", "傣族": "18", "纳西族": "27", "维吾尔族": "05"}
