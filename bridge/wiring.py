"""Building the parts of a run from settings: one place where dependencies are wired."""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bridge.settings import Settings
from connectors.internal.db import engine_for, same_database
from connectors.internal.reader import load_codes
from connectors.platform import PlatformClient
from connectors.platform.pacing import RateLimiter, RetryBudget, Unlimited
from mapping import regions
from mapping.types import now_local
from mapping.validate import Context
from sync.engine import Parts
from sync.ledger.migrate import upgrade
from sync.locks import run_lock
from sync.planning.planner import Rules
from sync.scans import ScanFetcher, ScanStore
from sync.sealing.signer import load_signer


def client_for(settings: Settings, shared_with: Engine | None = None) -> PlatformClient:
    """The platform client; ``shared_with``: pace it by the rate limit every worker shares there."""
    if settings.rate_limit <= 0:
        limiter = Unlimited()
    elif shared_with is not None:
        from sync.distributed.pacing import SharedRateLimiter
        limiter = SharedRateLimiter(shared_with, settings.app_key, settings.rate_limit, settings.rate_burst)
    else:
        limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    try:
        return PlatformClient(settings.platform_url, settings.app_key, settings.app_secret.get_secret_value(),
                              limiter=limiter, budget=RetryBudget(settings.retry_budget, settings.retry_seconds),
                              timeout=settings.timeout, max_connections=max(4, settings.scan_workers),
                              deadline=settings.request_deadline, proxy=settings.proxy, ca_bundle=settings.ca_bundle,
                              client_cert=settings.client_cert, client_key=settings.client_key)
    except (OSError, ssl.SSLError) as err:  # a CA bundle, certificate or key that cannot be used
        from bridge.settings import SettingsError
        raise SettingsError(f"configuration error: BRIDGE_CA_BUNDLE or BRIDGE_CLIENT_CERT/KEY: {err}") from None


def engines(settings: Settings) -> tuple[Engine, Engine, bool]:
    settings.need("internal_db")
    internal = engine_for(settings.internal_db)
    same = same_database(settings.internal_db, settings.state_url)
    state = internal if same else engine_for(settings.state_url)
    return internal, state, same


def prepare_state(state: Engine, settings: Settings) -> None:
    """Create or upgrade the bridge's tables, one process at a time."""
    settings.home.mkdir(parents=True, exist_ok=True)
    with run_lock(state, settings.home, "schema", wait=True, poll=0.2):
        upgrade(state)


def fixed_clock() -> Callable | None:
    """``PB_FIXED_NOW`` (ISO time) pins the clock: for crash tests that compare runs, never production."""
    value = os.environ.get("PB_FIXED_NOW")
    return (lambda: datetime.fromisoformat(value)) if value else None


def build(settings: Settings, clock: Callable | None = None, shared_rate: bool = False) -> Parts:
    """Both sides in one process: the platform and the internal database (``sync``).

    ``shared_rate``: the client takes its turns from the rate limit in the state database, shared
    with every other process of the same app key (distributed workers)."""
    settings.need("platform_url", "app_key", "app_secret")
    parts = build_internal(settings, clock)
    parts.client = client_for(settings, parts.state if shared_rate else None)
    parts.fetcher = ScanFetcher(parts.client, ScanStore(settings.scans_path), settings.scan_workers)
    return parts


def build_internal(settings: Settings, clock: Callable | None = None) -> Parts:
    """The internal side only (``load``, the console, reports): no platform client."""
    settings.need("internal_db")
    clock = clock or fixed_clock() or now_local
    internal, state, same = engines(settings)
    prepare_state(state, settings)
    with internal.connect() as conn:
        codes = load_codes(conn)
    extra = [settings.regions_file] if settings.regions_file else []
    context = Context(codes, regions.load(settings.region_prefixes, extra), clock().date())
    return Parts(client=None, internal=internal, state=state, same_db=same, codes=codes, context=context,
                 fetcher=None, home=settings.home, scopes=settings.region_prefixes or (None,),
                 overlap=timedelta(seconds=settings.feed_overlap), page_size=settings.page_size, clock=clock,
                 rules=Rules(window=timedelta(days=settings.match_window_days)),
                 signer=load_signer(settings.seal_key, settings.home, settings.seal_algorithm),
                 scan_dir=settings.scans_path, receipts=settings.home / "receipts",
                 reports=settings.report_dir or settings.home / "reports",
                 report_formats=tuple(f for f in settings.report_formats.split(",") if f),
                 full_sweep_every=timedelta(days=settings.full_sweep_days) if settings.full_sweep_days else None,
                 review_lookback=timedelta(hours=settings.review_lookback_hours))


def head_verifier(settings: Settings):
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


# --- across the network gap ----------------------------------------------------------------------

def ferry_folders(settings: Settings):
    from sync.ferry.collector import Folders

    settings.need("ferry_outbox", "ferry_inbox")
    return Folders(outbox=settings.ferry_outbox, inbox=settings.ferry_inbox, home=settings.home)


def ferry_signer(settings: Settings):
    from bridge.settings import SettingsError
    from sync.ferry.signing import make_signer

    secret = settings.ferry_key.get_secret_value() if settings.ferry_key else None
    try:
        return make_signer(settings.ferry_signature, secret, settings.ferry_key_file, settings.ferry_peer_key)
    except (ValueError, OSError, KeyError) as err:
        raise SettingsError(f"configuration error: {err}") from None


def ferry_sender(settings: Settings, side: str) -> str:
    if settings.ferry_sender:
        return settings.ferry_sender
    host = "".join(c for c in socket.gethostname() if c.isalnum() or c in "_.")[:30] or "host"
    return f"{host}.{side}"


def build_collector(settings: Settings, clock: Callable | None = None):
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


def build_loader(settings: Settings, clock: Callable | None = None):
    from sync.ferry.loader import Loader

    folders, signer = ferry_folders(settings), ferry_signer(settings)
    return Loader(build_internal(settings, clock), folders, signer, ferry_sender(settings, "loader"),
                  one_way=settings.ferry_one_way)
