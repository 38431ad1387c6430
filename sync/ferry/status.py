"""What ``ferry status`` shows on either side: batches sent, received, gaps, quarantine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from sync.ferry import batch as b
from sync.ferry.inbox import DONE, next_expected
from sync.ledger import tables as t


def ferry_status(state: Engine, inbox: Path | None, outbox: Path | None) -> dict[str, Any]:
    o, i, w, a = t.ferry_out.c, t.ferry_in.c, t.writeback.c, t.ferry_ack.c
    out: dict[str, Any] = {"sent": {}, "received": {}, "quarantined": [], "inbox": {}, "outbox": {}}
    with state.connect() as conn:
        for kind in b.KINDS:
            last = conn.execute(select(o.seq, o.sent_at, o.counts, o.first_at, o.last_at)
                                .where(o.kind == kind, o.status == "sent").order_by(o.seq.desc()).limit(1)).first()
            unfinished = conn.execute(select(func.count()).where(o.kind == kind, o.status == "writing")).scalar()
            if last or unfinished:
                out["sent"][kind] = {"last_seq": last.seq if last else None,
                                     "last_sent_at": str(last.sent_at) if last else None,
                                     "last_counts": json.loads(last.counts) if last and last.counts else {},
                                     "range": [last.first_at, last.last_at] if last else None,
                                     "unfinished": unfinished}
        senders: dict[tuple[str, str], dict[int, Any]] = {}
        for r in conn.execute(select(i.sender, i.kind, i.seq, i.status, i.received_at).where(i.status.in_(DONE))):
            senders.setdefault((r.kind, r.sender), {})[r.seq] = r
        for (kind, sender), rows in sorted(senders.items()):
            imported = {s for s, r in rows.items() if r.status == "imported"}
            expected = next_expected(set(rows))
            out["received"][f"{kind}:{sender}"] = {
                "last_seq": max(imported) if imported else None,
                "last_received_at": str(max(r.received_at for r in rows.values())),
                "next_expected": expected,
                "missing": [s for s in range(1, max(rows) + 1) if s not in imported],
            }
        for q in conn.execute(select(i.file_name, i.detail, i.received_at).where(i.status == "quarantined")
                              .order_by(i.received_at)):
            out["quarantined"].append({"file": q.file_name, "reason": (q.detail or "").split(":")[0],
                                       "detail": q.detail, "at": str(q.received_at)})
        ferried = conn.execute(select(func.count(), func.min(w.created_at)).where(w.status == "ferried")).one()
        held = conn.execute(select(func.count()).where(w.status == "held")).scalar()
        owed = conn.execute(select(func.count()).where(a.seq.is_(None))).scalar()
    out["results_unanswered"] = {"count": ferried[0], "oldest": str(ferried[1]) if ferried[1] else None}
    out["results_held"] = held
    out["answers_owed"] = owed
    for name, folder in (("inbox", inbox), ("outbox", outbox)):
        if folder and folder.is_dir():
            files = sorted(p.name for p in folder.iterdir() if p.is_file())
            out[name] = {"complete": [f for f in files if b.parse_name(f)],
                         "arriving": [f for f in files if f.startswith(b.TEMP_PREFIX)]}
    arrived = [name for name in (b.parse_name(f) for f in out["inbox"].get("complete", [])) if name is not None]
    for key, info in out["received"].items():
        kind, sender = key.split(":", 1)
        info["held"] = sorted(seq for k, s, seq in arrived if (k, s) == (kind, sender) and seq > info["next_expected"])
    return out
