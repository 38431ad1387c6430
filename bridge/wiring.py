"""Building the parts of a run from settings: one place where dependencies are wired."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import ssl
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from bridge.reporting import unsynced_report
from bridge.settings import Settings, SettingsError
from config.catalogue import text
from connectors.internal.db import engine_for, same_database
from connectors.internal.reader import load_codes
from connectors.platform import PlatformClient
from connectors.platform.errors import PlatformError
from connectors.platform.pacing import RateLimiter, RetryBudget, Unlimited
from mapping import regions
from mapping.types import now_local
from mapping.validate import Context
from sync.engine import Parts
from sync.ledger.migrate import upgrade
from sync.locks import run_lock
from sync.planning.planner import Rules
from sync.planning.registry import IncompleteBusinessType, check
from sync.scans import ScanFetcher, ScanStore
from sync.sealing.signer import SIGNERS, Signer, new_key, read_key, write_key

if TYPE_CHECKING:  # imported where they are used: most commands need neither the ferry nor the data keys
    from sync.atrest import Keyring
    from sync.ferry.collector import CollectorParts, Folders
    from sync.ferry.loader import Loader
    from sync.ferry.signing import BatchSigner

T = TypeVar("T")
Clock = Callable[[], datetime]


def needed(value: T | None) -> T:
    """A setting ``Settings.need`` has checked already: present (the type checker cannot know)."""
    assert value is not None, "Settings.need names a missing setting before this"
    return value


def client_for(settings: Settings, shared_with: Engine | None = None, check_first: bool = False) -> PlatformClient:
    """The platform client; ``shared_with``: pace it by the rate limit every worker shares there;
    ``check_first``: its first request is the check of the platform settings (``first_check``)."""
    limiter: RateLimiter
    if settings.rate_limit <= 0:
        limiter = Unlimited()
    elif shared_with is not None:
        from sync.distributed.pacing import SharedRateLimiter
        # Paces as a RateLimiter does (``acquire``), from the state database: the connectors
        # cannot name a class of the engine's.
        limiter = SharedRateLimiter(shared_with, needed(settings.app_key), settings.rate_limit,  # type: ignore[assignment]
                                    settings.rate_burst)
    else:
        limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    return _client(settings, limiter, RetryBudget(settings.retry_budget, settings.retry_seconds),
                   first_check=first_check(settings) if check_first else None)


def _client(settings: Settings, limiter: RateLimiter, budget: RetryBudget, max_attempts: int = 8,
            first_check: Callable[[PlatformError], str | None] | None = None) -> PlatformClient:
    secret = needed(settings.app_secret).get_secret_value()
    try:
        return PlatformClient(needed(settings.platform_url), needed(settings.app_key), secret,
                              limiter=limiter, budget=budget, max_attempts=max_attempts,
                              timeout=settings.timeout, max_connections=max(4, settings.scan_workers),
                              deadline=settings.request_deadline, proxy=settings.proxy, ca_bundle=settings.ca_bundle,
                              client_cert=settings.client_cert, client_key=settings.client_key,
                              first_check=first_check)
    except (OSError, ssl.SSLError) as err:  # a CA bundle, certificate or key that cannot be used
        raise SettingsError(text("cli.tls_files", reason=f"{type(err).__name__}: {err}")) from None


def first_check(settings: Settings) -> Callable[[PlatformError], str | None]:
    """What a failure of the first request says of the settings: a line naming the setting and the
    URL for a configuration problem (``platform_cause``), None for one the run retries or handles
    (busy, asked for a fresh signature, a region the key may not read, an expired cursor)."""
    from connectors.platform import errors as e

    url = needed(settings.platform_url)

    def check(err: PlatformError) -> str | None:
        if isinstance(err, (e.RegionForbidden, e.CursorExpired, e.ConflictError)):
            return None
        return platform_cause(url, err)
    return check


def check_platform(settings: Settings) -> None:
    """A first request, made once, before anything else (issue 26, finding 7), for the commands
    whose first request is not their client's own check (``first_check``): ``sync`` asks nothing
    more than its feed, and lets its first page be the check (``build(check_first=True)``).

    A first request that cannot reach the platform, or that the platform refuses for the key, the
    signature or the path, is a configuration problem: it stops the command at once with one line
    naming the setting and the URL, instead of spending the retry budget (27 s for a refused
    connection) and ending "平台持续无法访问". A platform that answers but is busy (42901, 5xx) or
    asks for a fresh signature passes: the run retries those within its budget, as it does every
    failure after this first request. A region the key may not read passes too: the run skips
    and reports it."""
    from connectors.platform import errors as e
    from connectors.platform.pacing import RetryBudget as Budget

    settings.need("platform_url", "app_key", "app_secret")
    client = _client(settings, Unlimited(), Budget(0, 0), max_attempts=1, first_check=first_check(settings))
    prefix = settings.region_prefixes[0] if settings.region_prefixes else None
    try:
        client.changes_page(updated_after=datetime.now() - timedelta(seconds=1), region_prefix=prefix, limit=1)
    except e.Unconfigured as err:
        raise SettingsError(str(err)) from None
    except e.PlatformError:
        pass  # busy or briefly broken: the run retries it within its budget
    finally:
        client.close()


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        cause = cause.__cause__ or cause.__context__


def platform_cause(url: str, err: BaseException) -> str | None:
    """One line in Chinese naming the setting and the URL for a platform failure that is a
    configuration problem; None for one worth retrying (the platform answered, busy or briefly
    broken)."""
    import httpx

    from connectors.platform import errors as e

    codes = [x.code for x in _chain(err) if isinstance(x, e.PlatformError) and x.code]
    code = codes[-1] if codes else None
    chain = list(_chain(err))
    causes: list[tuple[type[BaseException] | tuple[type[BaseException], ...], str]] = [(ssl.SSLCertVerificationError, "tls_untrusted"), (ssl.SSLError, "tls_mismatch"),
              (ConnectionRefusedError, "refused"), (socket.gaierror, "no_host"), (httpx.ProxyError, "proxy"),
              (httpx.TimeoutException, "timeout"), (e.DeadlineExceeded, "timeout"),
              (httpx.TransportError, "unreachable")]
    if url.startswith("http://"):  # a server that hangs up on plain HTTP: it expected a TLS handshake
        causes.insert(-1, ((httpx.RemoteProtocolError, httpx.ReadError), "not_http"))
    for kind, key in causes:  # the most telling cause anywhere in the chain wins
        found = next((x for x in chain if isinstance(x, kind)), None)
        if found is not None:
            return text(f"cli.platform.{key}", url=url, host=httpx.URL(url).host, reason=type(found).__name__)
    if code in (40101,):
        return text("cli.platform.signature", url=url, code=code)
    if code == 40401:
        return text("cli.platform.not_found", url=url, code=code)
    unreadable = re.search(r"unreadable answer, HTTP (\d{3})", str(err))
    if unreadable and unreadable.group(1).startswith("5"):
        return None  # a gateway's error page while the platform is down: the retry budget's case
    if code in (40102, 40103, 42901, 50001, 50301) or (code is None and not isinstance(err, e.FatalError)
                                                         and not unreadable):
        return None  # busy or asked to sign again: the run's retry budget is for these
    if code is None:  # a redirect, or an answer that is no envelope: not the platform's open API
        return text("cli.platform.not_platform", url=url)
    return text("cli.platform.refused_code", url=url, code=code)


def safe_url(url: str | None) -> str:
    """A database URL without its password, for messages."""
    if not url:
        return "-"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "?"


def _reach(engine: Engine, setting: str, url: str) -> None:
    """Connect once: a database that is down is one line naming its setting, not 431 of traceback."""
    try:
        with engine.connect():
            pass
    except DBAPIError as err:
        reason = (str(err.orig or err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise SettingsError(text("cli.db_down", name=setting, url=safe_url(url), reason=reason)) from None


def state_setting(settings: Settings) -> str:
    """The setting the state database comes from."""
    return "BRIDGE_STATE_DB" if settings.state_db else "BRIDGE_INTERNAL_DB" if settings.internal_db else "BRIDGE_HOME"


def engines(settings: Settings) -> tuple[Engine, Engine, bool]:
    settings.need("internal_db")
    url = needed(settings.internal_db)
    internal = engine_for(url)
    _reach(internal, "BRIDGE_INTERNAL_DB", url)
    same = same_database(url, settings.state_url)
    state = internal if same else engine_for(settings.state_url)
    return internal, state, same


def prepare_state(state: Engine, settings: Settings) -> None:
    """Create or upgrade the bridge's tables, one process at a time."""
    settings.home.mkdir(parents=True, exist_ok=True)
    _reach(state, state_setting(settings), settings.state_url)
    with run_lock(state, settings.home, "schema", wait=True, poll=0.2):
        upgrade(state)
    data_keys(settings)  # every command that opens the bridge's data reads it through the data keys


def signer_for(settings: Settings, sign: bool = True) -> Signer:
    """The seal key of BRIDGE_SEAL_KEY, or the trial key under the home (made on first use, and
    said so once, in Chinese). A key file that is missing, empty, not a key, or (``sign``) cannot
    sign stops the command with one line naming BRIDGE_SEAL_KEY."""
    path = settings.seal_key
    if path is None:
        path = settings.home / "keys" / f"trial-seal-{settings.seal_algorithm}.json"
        if not path.exists():
            try:
                write_key(path, new_key(settings.seal_algorithm, "TRIAL-0001", text("cli.trial_seal_name"), trial=True))
                sys.stderr.write(text("cli.seal_trial_made", path=path) + "\n")
            except FileExistsError:
                pass  # another process made it first: its key is the one
    return _signer(path, "BRIDGE_SEAL_KEY" if settings.seal_key else "BRIDGE_HOME", sign)


def _signer(path: Path, setting: str, sign: bool) -> Signer:
    import hashlib

    def bad(key: str, **values: object) -> SettingsError:
        return SettingsError(text(f"cli.seal.{key}", name=setting, path=path, **values))

    try:
        key = read_key(path)
    except FileNotFoundError:
        raise bad("missing") from None
    except OSError as err:
        raise bad("unreadable", reason=type(err).__name__) from None
    except KeyError as err:
        raise bad("incomplete", field=err.args[0] if err.args else "?") from None
    except (ValueError, TypeError, AttributeError):  # empty, not JSON, or JSON that is not an object
        raise bad("malformed") from None
    if key.algorithm not in SIGNERS:
        raise bad("algorithm", algorithm=key.algorithm)
    if sign and not key.private_key:
        raise bad("no_private")
    try:
        signer = SIGNERS[key.algorithm](key)
        if sign:
            digest = hashlib.sha256(b"pension-bridge key check").digest()
            if not signer.verify(digest, signer.sign(digest)):
                raise ValueError("the key does not verify its own seal")
    except (ValueError, TypeError, IndexError):
        raise bad("cannot_sign") from None
    return signer


def fixed_clock() -> Clock | None:
    """``PB_FIXED_NOW`` (ISO time) pins the clock: for crash tests that compare runs, never production."""
    value = os.environ.get("PB_FIXED_NOW")
    return (lambda: datetime.fromisoformat(value)) if value else None


def build(settings: Settings, clock: Clock | None = None, shared_rate: bool = False,
          check_first: bool = False) -> Parts:
    """Both sides in one process: the platform and the internal database (``sync``).

    ``shared_rate``: the client takes its turns from the rate limit in the state database, shared
    with every other process of the same app key (distributed workers). ``check_first``: the
    client's first request checks the platform settings (``first_check``; the run then stops
    with ``RunResult.unconfigured``)."""
    settings.need("platform_url", "app_key", "app_secret")
    parts = build_internal(settings, clock)
    client = client_for(settings, parts.state if shared_rate else None, check_first=check_first)
    fetcher = ScanFetcher(client, ScanStore(settings.scans_path), settings.scan_workers)
    return dataclasses.replace(parts, client=client, fetcher=fetcher)


def build_internal(settings: Settings, clock: Clock | None = None) -> Parts:
    """The internal side only (``load``, the console, reports): no platform client."""
    settings.need("internal_db")
    clock = clock or fixed_clock() or now_local
    internal, state, same = engines(settings)
    prepare_state(state, settings)
    with internal.connect() as conn:
        codes = load_codes(conn)
    try:  # a business type without its planner, label or YWLX stops here, not per record in the night
        check(codes)
    except IncompleteBusinessType as err:
        raise SettingsError(str(err)) from None
    extra = [settings.regions_file] if settings.regions_file else []
    context = Context(codes, regions.load(settings.region_prefixes, extra), clock().date())
    return Parts(internal=internal, state=state, same_db=same, codes=codes, context=context,
                 home=settings.home, scopes=settings.region_prefixes or (None,),
                 overlap=timedelta(seconds=settings.feed_overlap), page_size=settings.page_size, clock=clock,
                 rules=Rules(window=timedelta(days=settings.match_window_days)),
                 signer=signer_for(settings),
                 scan_dir=settings.scans_path, receipts=settings.home / "receipts",
                 reports=settings.report_dir or settings.home / "reports",
                 report_formats=tuple(f for f in settings.report_formats.split(",") if f),
                 full_sweep_every=timedelta(days=settings.full_sweep_days) if settings.full_sweep_days else None,
                 review_lookback=timedelta(hours=settings.review_lookback_hours), report=unsynced_report)


def head_verifier(settings: Settings) -> Signer | None:
    """The seal key's verifier for the signed audit heads (``sync.audit``), without making a
    trial key: None when no seal key is set and no trial key was ever made, or the key is no key
    (``verify`` then says there is no signed head; ``doctor`` names the key's fault)."""
    from sync.sealing.signer import SIGNERS as signers
    from sync.sealing.signer import read_key as read

    path = settings.seal_key or settings.home / "keys" / f"trial-seal-{settings.seal_algorithm}.json"
    try:
        key = read(path)
        return signers[key.algorithm](key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def data_keys(settings: Settings) -> Keyring:
    """The data keys (``sync.atrest``): ``BRIDGE_DATA_KEY`` and the older ones under the home, set
    for this process. Without a key, scans and payloads stay clear: said once per process, in
    Chinese, on stderr. A key file that cannot be used stops the command."""
    import sys

    from bridge.settings import SettingsError
    from config.catalogue import text
    from sync import atrest

    try:
        ring = atrest.load(settings.data_key, settings.home)
    except atrest.DataKeyError as err:
        raise SettingsError(text("atrest.key_bad", path=settings.data_key, reason=str(err))) from None
    atrest.configure(ring)
    if ring.current is None and not _warned["data_key"]:
        _warned["data_key"] = True
        sys.stderr.write(text("atrest.no_data_key") + "\n")
    return ring


_warned = {"data_key": False}


# --- across the network gap ----------------------------------------------------------------------

def ferry_folders(settings: Settings) -> Folders:
    from sync.ferry.collector import Folders

    settings.need("ferry_outbox", "ferry_inbox")
    return Folders(outbox=needed(settings.ferry_outbox), inbox=needed(settings.ferry_inbox), home=settings.home)


def ferry_cipher(settings: Settings) -> None:
    """Batches encrypted as well as signed when this side holds the ferry data key
    (``BRIDGE_FERRY_DATA_KEY``, the same SM4 key file on both sides; ``sync.ferry.batch``);
    decrypted into anonymous files under the home, never beside the gateway's folders."""
    from sync import atrest
    from sync.ferry import batch

    path = settings.ferry_data_key
    try:
        key = atrest.read_key(path) if path is not None else None
    except atrest.DataKeyError as err:
        raise SettingsError(text("atrest.key_bad", path=path, reason=str(err))) from None
    batch.configure_cipher(key, settings.home / "ferry" / "tmp")


def ferry_signer(settings: Settings) -> BatchSigner:
    from sync.ferry.signing import make_signer

    ferry_cipher(settings)
    secret = settings.ferry_key.get_secret_value() if settings.ferry_key else None
    try:
        return make_signer(settings.ferry_signature, secret, settings.ferry_key_file, settings.ferry_peer_key)
    except (ValueError, OSError, KeyError) as err:
        raise SettingsError(text("cli.ferry_key", reason=str(err)[:200])) from None


def ferry_sender(settings: Settings, side: str) -> str:
    if settings.ferry_sender:
        return settings.ferry_sender
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "_.")[:30] or "host"
    return f"{host}.{side}"


def build_collector(settings: Settings, clock: Clock | None = None) -> CollectorParts:
    """The external side only (``collect``): the platform, scans and the collector's own state."""
    from sync.ferry.collector import CollectorParts

    settings.need("platform_url", "app_key", "app_secret")
    clock = clock or fixed_clock() or now_local
    state = engine_for(settings.state_url)
    prepare_state(state, settings)
    client = client_for(settings)
    return CollectorParts(client=client, state=state,
                          fetcher=ScanFetcher(client, ScanStore(settings.scans_path), settings.scan_workers),
                          folders=ferry_folders(settings), signer=ferry_signer(settings),
                          sender=ferry_sender(settings, "collector"), scopes=settings.region_prefixes or (None,),
                          overlap=timedelta(seconds=settings.feed_overlap), page_size=settings.page_size, clock=clock)


def build_loader(settings: Settings, clock: Clock | None = None) -> Loader:
    from sync.ferry.loader import Loader

    folders, signer = ferry_folders(settings), ferry_signer(settings)
    return Loader(build_internal(settings, clock), folders, signer, ferry_sender(settings, "loader"),
                  one_way=settings.ferry_one_way)
