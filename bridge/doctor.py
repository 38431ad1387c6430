"""``pension-bridge doctor``: is this deployment ready, and if not, what to fix.

Each check is a small function of a ``Deployment`` that returns one ``Result`` (ok, warn, fail
or skip; the Chinese line; the fix). The doctor only reads: it never creates a database, a
table, a key or a folder, and never upgrades the schema. Nothing the platform answers is
printed: a refusal is named by its numeric code, the clock by the seconds computed from its
``Date`` header.

Which checks apply follows the deployment's role: ``direct`` (``sync``: platform and internal
database), ``collector`` (outside a network gap) or ``loader`` (inside).
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy import inspect, select
from sqlalchemy import text as sql
from sqlalchemy.engine import Engine, make_url

from bridge.settings import Settings
from config import load_toml
from config.catalogue import text

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
ROLES = ("direct", "collector", "loader")
NEEDS = {"direct": ("platform_url", "app_key", "app_secret", "internal_db"),
         "collector": ("platform_url", "app_key", "app_secret", "ferry_outbox", "ferry_inbox"),
         "loader": ("internal_db", "ferry_outbox", "ferry_inbox")}
SEQUENCES = ("AAC001", "AAZ159", "YWLSH", "JFJL")
SKEW_WARN, SKEW_FAIL = 30.0, 240.0  # seconds; the platform refuses a timestamp 300 s off (40102)
GIB = 1024 ** 3
DISK_FAIL, DISK_WARN = 1 * GIB, 5 * GIB  # a night's scans are a few hundred MB in a large county
CONNECT_SECONDS = 5


@dataclass(frozen=True)
class Result:
    check: str
    status: str
    line: str
    fix: str = ""


def ok(check: str, key: str, **values: object) -> Result:
    return Result(check, OK, text(f"doctor.{key}", **values))


def warn(check: str, key: str, fix: str, **values: object) -> Result:
    return Result(check, WARN, text(f"doctor.{key}", **values), text(f"doctor.fix.{fix}", **values))


def fail(check: str, key: str, fix: str, **values: object) -> Result:
    return Result(check, FAIL, text(f"doctor.{key}", **values), text(f"doctor.fix.{fix}", **values))


def skip(check: str, why: str) -> Result:
    return Result(check, SKIP, text("doctor.skipped", check=text(f"doctor.name.{check}"), why=why))


# --- the deployment being examined ------------------------------------------------------------

@dataclass
class Deployment:
    """What the checks look at: the settings as loaded, what was wrong with them, the role."""

    settings: Settings
    bad: list[tuple[str, str]]  # (BRIDGE_NAME, reason in Chinese)
    role: str
    today: date = field(default_factory=date.today)
    cache: dict[str, Any] = field(default_factory=dict)
    engines: dict[str, Engine | None] = field(default_factory=dict)
    probed: Probe | None = None  # the platform's answer to doctor's one request, once asked

    def engine(self, which: str) -> Engine | None:
        """The internal or state engine, once; None when it cannot be reached (the reason kept)."""
        if which not in self.engines:
            url = self.settings.internal_db if which == "internal" else self.settings.state_url
            try:
                if url is None:  # the checks ask for the internal engine only with BRIDGE_INTERNAL_DB set
                    raise ValueError("BRIDGE_INTERNAL_DB is not set")
                self.engines[which] = _reach(url)
            except Exception as err:  # every driver has its own errors: the class names the fault
                self.engines[which] = None
                self.cache[f"{which}_error"] = _reason(err)
                self.cache[f"{which}_missing"] = isinstance(err, _MissingFile)
        return self.engines[which]

    def close(self) -> None:
        for engine in self.engines.values():
            if engine is not None:
                engine.dispose()


class _MissingFile(Exception):
    """An SQLite URL whose file is not there: connecting would make an empty one."""


def _reach(url: str) -> Engine:
    from connectors.internal.db import engine_for

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not Path(parsed.database).exists():
            raise _MissingFile(parsed.database)
        engine = engine_for(url)
    else:
        engine = engine_for(url, connect_args={"connect_timeout": CONNECT_SECONDS})
    with engine.connect() as conn:
        conn.execute(sql("select 1"))
    return engine


def _reason(err: BaseException) -> str:
    if isinstance(err, _MissingFile):
        return text("doctor.reason.no_file", path=str(err))
    first = (str(getattr(err, "orig", None) or err).strip().splitlines() or [""])[0][:160]
    return f"{type(err).__name__}: {first}"


def safe_url(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: say nothing of it
        return "?"


def load_deployment(role: str | None = None, **overrides: object) -> Deployment:
    """The settings from the environment, every bad one recorded (and left at its default)."""
    fixed: dict[str, Any] = dict(overrides)  # values of every type, validated by Settings
    bad: list[tuple[str, str]] = []
    for _ in range(len(Settings.model_fields) + 1):
        try:
            current = Settings(**fixed)
            break
        except ValidationError as err:
            for problem in err.errors(include_url=False):
                name = str(problem["loc"][0]) if problem["loc"] else ""
                if name not in Settings.model_fields or name in fixed:
                    raise
                bad.append((f"BRIDGE_{name.upper()}", _setting_reason(problem)))
                fixed[name] = Settings.model_fields[name].get_default(call_default_factory=True)
    return Deployment(current, bad, role or role_of(current))


def _setting_reason(problem: ErrorDetails) -> str:
    kind = problem["type"]
    for prefix in ("string_pattern", "path_not_file", "float_parsing", "int_parsing", "bool_parsing",
                   "greater_than", "less_than"):
        if kind.startswith(prefix):
            return text(f"doctor.reason.{prefix}")
    return text("doctor.reason.other", detail=str(problem.get("msg", ""))[:160])


def role_of(settings: Settings) -> str:
    ferry = settings.ferry_inbox or settings.ferry_outbox
    if ferry and settings.platform_url and not settings.internal_db:
        return "collector"
    if ferry and settings.internal_db and not settings.platform_url:
        return "loader"
    return "direct"


# --- settings ------------------------------------------------------------------------------

def check_settings(d: Deployment) -> Result:
    problems = [f"{name} {reason}" for name, reason in d.bad]
    given = {name for name, _ in d.bad}
    problems += [f"BRIDGE_{name.upper()} {text('doctor.reason.missing')}" for name in NEEDS[d.role]
                 if getattr(d.settings, name) in (None, "") and f"BRIDGE_{name.upper()}" not in given]
    if problems:
        return fail("settings", "settings_bad", "settings", problems="；".join(problems),
                    role=text(f"doctor.role.{d.role}"))
    return ok("settings", "settings_ok", role=text(f"doctor.role.{d.role}"))


# --- the internal database -----------------------------------------------------------------

def check_internal_db(d: Deployment) -> Result:
    if not d.settings.internal_db:
        return skip("internal_db", text("doctor.reason.missing_setting", name="BRIDGE_INTERNAL_DB"))
    if d.engine("internal") is None:
        return fail("internal_db", "internal_db_down", "internal_db", url=safe_url(d.settings.internal_db),
                    reason=d.cache["internal_error"])
    return ok("internal_db", "internal_db_ok", url=safe_url(d.settings.internal_db))


def _internal(d: Deployment, check: str) -> Engine | Result:
    engine = d.engine("internal") if d.settings.internal_db else None
    return engine if engine is not None else skip(check, text("doctor.reason.internal_down"))


def check_contract_tables(d: Deployment) -> Result:
    from connectors.internal.schema import metadata

    engine = _internal(d, "contract_tables")
    if isinstance(engine, Result):
        return engine
    inspector = inspect(engine)
    present = {name.lower() for name in inspector.get_table_names()}
    missing = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            missing.append(table.name.upper())
            continue
        columns = {c["name"].lower() for c in inspector.get_columns(table.name)}
        missing += [f"{table.name.upper()}.{c.name.upper()}" for c in table.columns if c.name not in columns]
    if missing:
        return fail("contract_tables", "tables_missing", "tables", missing="、".join(missing))
    return ok("contract_tables", "tables_ok", count=len(metadata.tables))


def required_codes(mapping: dict[str, Any]) -> set[tuple[str, str]]:
    """The AA10 (type, value) pairs the bridge writes, from ``codes.toml`` and the contract."""
    pairs = {("AAE140", mapping["insurance"]["aae140"]), ("AAC066", mapping["insurance"]["aac066"])}
    for table, code_type in (("gender", "AAC004"), ("hukou_type", "AAC009"), ("business_type", "YWLX"),
                             ("termination_reason", "AAE160"), ("source", "SJLY")):
        pairs |= {(code_type, str(v)) for v in mapping[table].values()}
    e, p = mapping["enrolment"], mapping["payment"]
    pairs |= {("AAC008", e["active"]), ("AAC008", e["terminated"]), ("AAC031", e["paying"]),
              ("AAC031", e["stopped"]), ("AAA115", p["back_payment"]), ("AAE341", p["individual"])}
    return pairs | {("AAE016", v) for v in "012"} | {("QZZT", v) for v in "012"}


def check_code_tables(d: Deployment) -> Result:
    from connectors.internal import schema as it

    engine = _internal(d, "code_tables")
    if isinstance(engine, Result):
        return engine
    try:
        with engine.connect() as conn:
            found = {(r.aaa100, str(r.aaa102).strip()) for r in conn.execute(select(it.aa10.c.aaa100, it.aa10.c.aaa102))}
            sequences = {r[0] for r in conn.execute(select(it.xt_seq.c.seq_name))}
    except Exception as err:  # the tables themselves are the contract check's to report
        return skip("code_tables", _reason(err))
    missing = sorted(f"AA10 {t}={v}" for t, v in required_codes(load_toml("codes.toml")) - found)
    if not any(t == "AAC005" for t, _ in found):
        missing.append("AA10 AAC005")
    missing += [f"XT_SEQ {name}" for name in SEQUENCES if name not in sequences]
    if missing:
        return fail("code_tables", "codes_missing", "codes", missing="、".join(missing))
    return ok("code_tables", "codes_ok")


def check_grades(d: Deployment) -> Result:
    from connectors.internal import schema as it
    from mapping.codes import grades_from_rows

    engine = _internal(d, "grades")
    if isinstance(engine, Result):
        return engine
    try:
        with engine.connect() as conn:
            grades = grades_from_rows([dict(r._mapping) for r in conn.execute(select(it.aa18))])
    except Exception as err:
        return skip("grades", _reason(err))
    valid = [g for g in grades if g.covers(d.today)]
    if not valid:
        return fail("grades", "grades_none", "grades", today=f"{d.today:%Y-%m}", count=len(grades))
    amounts = [g.amount for g in valid]
    doubled = sorted({f"{a}" for a in amounts if amounts.count(a) > 1})
    if doubled:
        return fail("grades", "grades_ambiguous", "grades_ambiguous", amounts="、".join(doubled))
    return ok("grades", "grades_ok", count=len(valid), today=f"{d.today:%Y-%m}")


def check_internal_indexes(d: Deployment) -> Result:
    from connectors.internal import indexes

    engine = _internal(d, "internal_indexes")
    if isinstance(engine, Result):
        return engine
    try:
        wanted = indexes.missing(engine)
    except Exception as err:
        return skip("internal_indexes", _reason(err))
    if wanted:
        return warn("internal_indexes", "indexes_missing", "indexes", names="、".join(w.name for w in wanted))
    return ok("internal_indexes", "indexes_ok")


# --- the bridge's own tables -----------------------------------------------------------------

def check_schema(d: Deployment) -> Result:
    from sync.ledger import migrate

    url = d.settings.state_url
    engine = d.engine("state")
    if engine is None and d.cache.get("state_missing"):
        return fail("schema", "schema_none", "schema_upgrade", url=safe_url(url), head=migrate.head())
    if engine is None:
        reason = d.cache["state_error"]
        return fail("schema", "schema_unreachable", "schema_unreachable", url=safe_url(url), reason=reason)
    at, head = migrate.current(engine), migrate.head()
    if at == head:
        return ok("schema", "schema_ok", head=head)
    if at is None:
        return fail("schema", "schema_none", "schema_upgrade", url=safe_url(url), head=head)
    known = _revisions()
    if at not in known:
        return fail("schema", "schema_newer", "schema_newer", at=at, head=head)
    return fail("schema", "schema_behind", "schema_upgrade", at=at, head=head, url=safe_url(url))


def _revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from sync.ledger import migrate

    return {s.revision for s in ScriptDirectory.from_config(migrate._config(None)).walk_revisions()}


# --- the platform ------------------------------------------------------------------------------

@dataclass
class Probe:
    """One signed request to the platform: what came of it, and the clock it showed."""

    error: str | None = None  # doctor.platform_* key of the fault
    code: int | None = None
    skew: float | None = None  # platform's clock minus ours, seconds
    date_unreadable: bool = False


def probe_platform(settings: Settings) -> Probe:
    """A one-item page of the feed from now on, signed as every request is."""
    from connectors.platform import PlatformClient
    from connectors.platform import errors as e
    from connectors.platform.network import proxy_for, tls_context
    from connectors.platform.pacing import RetryBudget, Unlimited

    url, key, secret = settings.platform_url, settings.app_key, settings.app_secret
    if url is None or key is None or secret is None:  # _probe asks only with all three set
        raise ValueError("the platform's URL, key and secret are needed to probe it")
    try:
        inner = httpx.HTTPTransport(verify=tls_context(settings.ca_bundle, settings.client_cert, settings.client_key),
                                    proxy=proxy_for(url, settings.proxy))
    except OSError:
        return Probe("platform_tls_files")
    transport = _DateTransport(inner)
    client = PlatformClient(url, key, secret.get_secret_value(),
                            limiter=Unlimited(), budget=RetryBudget(2, 10), max_attempts=2,
                            timeout=min(settings.timeout, 10.0), transport=transport)
    probe = Probe()
    try:
        prefix = settings.region_prefixes[0] if settings.region_prefixes else None
        client.changes_page(updated_after=datetime.now() - timedelta(seconds=1), region_prefix=prefix, limit=1)
    except e.RegionForbidden as err:
        probe.error, probe.code = "platform_region", err.code
    except (e.RetryBudgetExhausted, e.RetriableError) as err:
        probe.error, probe.code = ("platform_clock" if err.code == 40102 else "platform_down"), err.code
    except e.FatalError as err:
        probe.error, probe.code = ("platform_signature" if err.code == 40101 else "platform_refused"), err.code
    except e.PlatformError as err:
        probe.error, probe.code = "platform_refused", err.code
    finally:
        client.close()
    probe.skew, probe.date_unreadable = transport.skew()
    return probe


class _DateTransport(httpx.BaseTransport):
    """Passes requests on, keeping each answer's ``Date`` header and when it came."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seen: list[tuple[str | None, float]] = []  # (Date header, when it came)

    def handle_request(self, request: Any) -> Any:
        sent = time.time()
        response = self.inner.handle_request(request)
        self.seen.append((response.headers.get("Date"), (sent + time.time()) / 2))
        return response

    def skew(self) -> tuple[float | None, bool]:
        for header, at in self.seen:
            if header:
                try:
                    return parsedate_to_datetime(header).timestamp() - at, False
                except (TypeError, ValueError, IndexError):
                    return None, True
        return None, False

    def close(self) -> None:
        self.inner.close()


def _probe(d: Deployment) -> Probe | None:
    s = d.settings
    if not (s.platform_url and s.app_key and s.app_secret):
        return None
    if d.probed is None:
        d.probed = probe_platform(s)
    return d.probed


def check_platform(d: Deployment) -> Result:
    probe = _probe(d)
    if probe is None:
        return skip("platform", text("doctor.reason.missing_setting", name="BRIDGE_PLATFORM_URL/APP_KEY/APP_SECRET"))
    if probe.error:
        return fail("platform", probe.error, probe.error, url=d.settings.platform_url, code=probe.code or "-",
                    region=",".join(d.settings.region_prefixes) or "-")
    return ok("platform", "platform_ok", url=d.settings.platform_url)


def check_clock(d: Deployment) -> Result:
    probe = _probe(d)
    if probe is None or (probe.skew is None and not probe.date_unreadable):
        return skip("clock", text("doctor.reason.no_date"))
    if probe.date_unreadable or probe.skew is None:  # no skew here means the Date was unreadable
        return warn("clock", "clock_unreadable", "clock")
    seconds = round(probe.skew)
    values = {"seconds": abs(seconds), "way": text("doctor.clock_behind" if seconds > 0 else "doctor.clock_ahead")}
    if abs(probe.skew) > SKEW_FAIL:
        return fail("clock", "clock_off", "clock", **values)
    if abs(probe.skew) > SKEW_WARN:
        return warn("clock", "clock_off", "clock", **values)
    return ok("clock", "clock_ok", seconds=abs(seconds))


# --- keys and files ------------------------------------------------------------------------------

def check_seal_key(d: Deployment) -> Result:
    import hashlib

    from sync.sealing.signer import SIGNERS, read_key

    path = d.settings.seal_key
    if path is None:
        return warn("seal_key", "seal_trial", "seal_trial")
    try:
        key = read_key(path)
    except OSError:
        return fail("seal_key", "seal_unreadable", "seal_unreadable", path=path)
    except (ValueError, KeyError, TypeError):
        return fail("seal_key", "seal_malformed", "seal_malformed", path=path)
    if key.algorithm not in SIGNERS or not key.private_key:
        return fail("seal_key", "seal_cannot_sign", "seal_malformed", path=path)
    if key.trial:
        return warn("seal_key", "seal_trial_file", "seal_trial", path=path)
    digest = hashlib.sha256(b"pension-bridge doctor").digest()
    try:
        signer = SIGNERS[key.algorithm](key)
        sound = signer.verify(digest, signer.sign(digest))
    except (ValueError, TypeError, IndexError):
        sound = False
    if not sound:
        return fail("seal_key", "seal_cannot_sign", "seal_malformed", path=path)
    return ok("seal_key", "seal_ok", code=key.seal_code, algorithm=key.algorithm)


def check_data_key(d: Deployment) -> Result:
    """Scans and payloads at rest under an SM4 data key (``sync.atrest``, docs/privacy.md)."""
    from sync import atrest

    path = d.settings.data_key
    if path is None:
        return warn("data_key", "atrest.data_key_missing", "atrest.data_key")
    try:
        key = atrest.read_key(path)
    except atrest.DataKeyError as err:
        return fail("data_key", "atrest.data_key_bad", "atrest.data_key", path=path, reason=str(err))
    if _open_to_others(path):
        return fail("data_key", "atrest.data_key_bad", "atrest.data_key", path=path, reason="chmod 600")
    return ok("data_key", "atrest.data_key_ok", key_id=key.key_id)


def private_files(d: Deployment) -> list[Path]:
    """Files that hold secrets: keys of seal, ferry and TLS, the env file, trial keys."""
    s = d.settings
    files = [s.seal_key, s.ferry_key_file, s.client_key, s.client_cert if not s.client_key else None]
    env = os.environ.get("BRIDGE_ENV_FILE")
    files.append(Path(env) if env else None)
    keys = s.home / "keys"
    if keys.is_dir():
        files += sorted(keys.glob("*.json"))
    return [Path(f) for f in files if f is not None and Path(f).exists()]


def _open_to_others(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def check_permissions(d: Deployment) -> Result:
    home = d.settings.home
    if not home.exists():
        return warn("permissions", "home_missing", "home_missing", path=home)
    exposed = [str(p) for p in [home, *private_files(d)] if _open_to_others(p)]
    if exposed:
        return fail("permissions", "files_exposed", "files_exposed", paths="、".join(exposed))
    if home.stat().st_uid != os.geteuid():
        return warn("permissions", "home_other_owner", "home_other_owner", path=home)
    return ok("permissions", "permissions_ok", path=home)


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_disk(d: Deployment, fail_below: int = DISK_FAIL, warn_below: int = DISK_WARN) -> Result:
    where = d.settings.scans_path
    free = shutil.disk_usage(_existing(where)).free
    values = {"path": where, "free": f"{free / GIB:.1f}"}
    if free < fail_below:
        return fail("disk", "disk_low", "disk", **values, need=f"{fail_below / GIB:.0f}")
    if free < warn_below:
        return warn("disk", "disk_low", "disk", **values, need=f"{warn_below / GIB:.0f}")
    return ok("disk", "disk_ok", **values)


def _writable(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".tmp-doctor-"):
            return True
    except OSError:
        return False


def check_ferry_folders(d: Deployment) -> Result:
    folders = {"BRIDGE_FERRY_OUTBOX": d.settings.ferry_outbox, "BRIDGE_FERRY_INBOX": d.settings.ferry_inbox}
    if not any(folders.values()):
        return skip("ferry_folders", text("doctor.reason.missing_setting", name="BRIDGE_FERRY_OUTBOX/INBOX"))
    bad = [f"{name}={path}" for name, path in folders.items() if path is None or not _writable(path)]
    if bad:
        return fail("ferry_folders", "ferry_folders_bad", "ferry_folders", folders="、".join(bad))
    return ok("ferry_folders", "ferry_folders_ok")


def check_ferry_key(d: Deployment) -> Result:
    from sync.ferry.signing import SM2_SM3, make_signer

    s = d.settings
    secret = s.ferry_key.get_secret_value() if s.ferry_key else None
    try:
        make_signer(s.ferry_signature, secret, s.ferry_key_file, s.ferry_peer_key).sign(b"pension-bridge doctor")
    except (ValueError, OSError, KeyError, TypeError) as err:
        return fail("ferry_key", "ferry_key_bad", "ferry_key", reason=str(err)[:160])
    if s.ferry_signature == SM2_SM3 and s.ferry_peer_key is None:
        return fail("ferry_key", "ferry_key_bad", "ferry_key", reason="BRIDGE_FERRY_PEER_KEY")
    return ok("ferry_key", "ferry_key_ok", algorithm=s.ferry_signature)


# --- running them --------------------------------------------------------------------------------

CHECKS: tuple[tuple[str, Callable[[Deployment], Result], tuple[str, ...]], ...] = (
    ("settings", check_settings, ROLES),
    ("internal_db", check_internal_db, ("direct", "loader")),
    ("contract_tables", check_contract_tables, ("direct", "loader")),
    ("code_tables", check_code_tables, ("direct", "loader")),
    ("grades", check_grades, ("direct", "loader")),
    ("internal_indexes", check_internal_indexes, ("direct", "loader")),
    ("schema", check_schema, ROLES),
    ("platform", check_platform, ("direct", "collector")),
    ("clock", check_clock, ("direct", "collector")),
    ("seal_key", check_seal_key, ("direct", "loader")),
    ("data_key", check_data_key, ROLES),
    ("permissions", check_permissions, ROLES),
    ("disk", check_disk, ROLES),
    ("ferry_folders", check_ferry_folders, ("collector", "loader")),
    ("ferry_key", check_ferry_key, ("collector", "loader")),
)


def run(d: Deployment) -> list[Result]:
    """Every check that applies to the deployment's role, in order."""
    try:
        return [check(d) for _, check, roles in CHECKS if d.role in roles]
    finally:
        d.close()


def healthy(results: list[Result]) -> bool:
    """Nothing needs fixing: no check failed (warnings are advice)."""
    return all(r.status != FAIL for r in results)


def as_json(d: Deployment, results: list[Result]) -> dict[str, Any]:
    return {"ok": healthy(results), "role": d.role, "checks": [asdict(r) for r in results]}


def lines(results: list[Result]) -> list[str]:
    """One line per check: its mark, what was found, and what to do."""
    out = []
    for r in results:
        line = f"{text(f'doctor.mark.{r.status}')} {r.line}"
        out.append(f"{line}　{text('doctor.fix_prefix')}{r.fix}" if r.fix else line)
    return out
