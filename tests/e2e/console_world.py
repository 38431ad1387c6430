"""A console over a database holding a conflict of every kind, with a user of every role."""

from __future__ import annotations

import copy
import hashlib
import socket
import threading
import time
from datetime import datetime

import uvicorn

from bridge import wiring
from console.app import Console
from console.auth import add_user
from mapping import idcard
from sync import engine
from tests.factories import raw_txn
from tests.integration.sandbox_fixtures import settings
from tests.integration.test_conflicts import ENROLMENT, PERSON, by_hand, insert
from tests.integration.test_sync import CLOCK, with_scans

PASSWORD = "correct horse 1"
USERS = {"agent": ("王代办", "530102"), "staff": ("李华", "5301"), "auditor": ("审计张", "5301")}
AGENT_ID = "A0017"  # the platform agent the agent user is; another agent (A0020) works the same village


def person(n: int, region: str = "530102001001") -> dict:
    number = idcard.make(f"{region[:6]}1980010{n}{n:02d}1")
    return {"id_number": number, "name": f"测试{n}", "gender": "M", "ethnicity": "汉族", "birth_date": "1980-01-0" + str(n),
            "phone": "13800138000", "hukou_type": "agricultural", "address": "某村"}


def enrolled_rows(n: int, aac001: str, aaz159: int, region: str = "530102001001") -> tuple[dict, dict]:
    p = person(n, region)
    row = dict(PERSON, aac001=aac001, aac002=p["id_number"], aac003=p["name"], aac006=int(p["birth_date"].replace("-", "")),
               aab301=region)
    return row, dict(ENROLMENT, aaz159=aaz159, aac001=aac001)


def txn(biz: str, n: int, serial: int, region: str = "530102001001", **over) -> dict:
    t = raw_txn(biz, txn_id=f"RH{region[:6]}2026112500{serial:02d}", region_code=region,
                updated_at=f"2026-11-25 10:{serial:02d}:00", **over)
    t["person"] = person(n, region)
    return t


def world_txns() -> tuple[list[dict], list[dict]]:
    """(first night's transactions, what the platform changes before the second night)."""
    already = txn("CBDJ", 1, 1)
    stale = txn("XXBG", 1, 2)
    stale["payload"]["changes"][0]["old"] = "13700000000"
    stale["created_at"] = "2026-11-20 08:00:00"  # the resident has waited six days when the console opens
    paid = txn("BJ", 1, 3)
    paid["payload"].update(years=[2019], amount="500.00")
    unknown = txn("BJ", 2, 4)
    materials = txn("CBDJ", 3, 5)
    mismatch = txn("CBDJ", 4, 6)
    multiple = txn("BJ", 5, 7)
    dup_a, dup_b = txn("XXBG", 6, 8), txn("XXBG", 6, 9)
    withdrawn, changed = txn("CBDJ", 7, 10), txn("CBDJ", 8, 11)
    other_region = txn("CBDJ", 9, 12, region="530103001001")
    other_region["attachments"] = []
    neighbour = txn("CBDJ", 9, 13)  # the same village, another agent's resident, no scans
    neighbour.update(attachments=[], agent={"agent_id": "A0020", "name": "赵六"})
    first = [already, stale, paid, unknown, materials, mismatch, multiple, dup_a, dup_b, withdrawn, changed, other_region,
             neighbour]
    later_w = dict(copy.deepcopy(withdrawn), version=2, status="withdrawn", updated_at="2026-11-25 20:00:00")
    later_c = copy.deepcopy(changed)
    later_c.update(version=2, updated_at="2026-11-25 20:01:00")
    later_c["payload"]["grade"] = "500.00"
    return first, [later_w, later_c]


def seed_internal(parts) -> None:
    rows = [enrolled_rows(n, f"53010200000009{n:02d}", 900 + n) for n in (1, 4, 5, 6)]
    people = [r[0] for r in rows]
    people[1]["aac003"] = "测试肆"  # the hand-typed enrolment spelt the name differently
    insert(parts.internal, ac01=people, ac02=[r[1] for r in rows],
           ae_ywjl=[dict(by_hand("YW2026112500000041", "11"), aac001=people[1]["aac001"]),
                    dict(by_hand("YW2026112500000051", "12"), aac001=people[2]["aac001"]),
                    dict(by_hand("YW2026112500000052", "12", "20261126080000"), aac001=people[2]["aac001"]),
                    dict(by_hand("YW2019010100000011", "12", "20190101100000"), aac001=people[0]["aac001"])],
           ac_jfjl=[{"jfjl_id": 1, "aac001": people[0]["aac001"], "aae003": 2019, "aaa115": "10", "aae341": "1",
                     "aae022": 300, "ywlsh": "YW2019010100000011"}])


# A "scan" that is a page and one that is its script, each passing the bridge's type check by its
# first bytes. Served as they were declared (text/html, application/javascript) from the console's
# origin, the page runs the script, which resolves its conflict with the viewer's session. The page
# says windows-1252, so the script's JPEG magic decodes as letters: ``ÿØÿ=1;`` is valid JavaScript.
HOSTILE_JS = (b"\xff\xd8\xff=1;\ndocument.title='ran';\n(async () => {\n"
              b"  const cid = location.pathname.split('/')[2];\n"
              b"  const page = await (await fetch('/conflicts/' + cid)).text();\n"
              b"  const csrf = (page.match(/name=\"csrf\" value=\"([^\"]+)\"/) || [])[1];\n"
              b"  await fetch('/conflicts/' + cid + '/resolve', {method: 'POST', body: new URLSearchParams("
              b"{csrf: csrf, action: 'apply'})});\n"
              b"  document.title = 'resolved';\n})();\n")


def hostile_page(script_src: str) -> bytes:
    return (b"%PDF-1.4\n<!doctype html><html><head><meta charset=\"windows-1252\"><title>scan</title>"
            b"<script src=\"" + script_src.encode() + b"\"></script></head><body>scan</body></html>\n")


def _hostile_scans(scenario: dict, stale: dict) -> None:
    """The stale change (a kind staff apply) gets the page and its script as attachments."""
    js_id, page_id = f"{stale['txn_id']}-JS", f"{stale['txn_id']}-PAGE"
    for a_id, kind, declared, content in ((page_id, "other", "text/html", hostile_page(js_id)),
                                          (js_id, "other", "application/javascript", HOSTILE_JS)):
        digest = hashlib.sha256(content).hexdigest()
        stale["attachments"].append({"attachment_id": a_id, "kind": kind, "file_name": "scan.pdf",
                                     "content_type": declared, "size": len(content), "sha256": digest})
        scenario["attachments"][a_id] = {"content": content, "content_type": declared}


def build_world(server, url, home, hostile: bool = False):
    first, later = world_txns()
    scenario = with_scans(*first)
    if hostile:
        _hostile_scans(scenario, next(t for t in first if t["txn_id"].endswith("02")))
    server.state.load(scenario)
    materials = next(t for t in first if t["txn_id"].endswith("05"))
    server.state.attachments[materials["attachments"][0]["attachment_id"]]["content"] = b"\xff\xd8\xff forged"
    parts = wiring.build(settings(server, url, home), clock=CLOCK)
    seed_internal(parts)
    engine.run(parts)
    for version in later:
        server.state.put(version)
    engine.run(parts)
    for role, (name, region) in USERS.items():
        add_user(parts.state, name, role, region, PASSWORD, CLOCK(), agent_id=AGENT_ID if role == "agent" else None)
    return parts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConsoleServer:
    """The console on a real uvicorn server in a thread."""

    def __init__(self, parts, clock=None, **console_kw) -> None:
        self.port = free_port()
        clock = clock or (lambda: datetime(2026, 11, 26, 9, 0))
        config = uvicorn.Config(Console(parts, clock, **console_kw).app, host="127.0.0.1",
                                port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ConsoleServer:
        self.thread.start()
        for _ in range(100):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("console did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
