"""Composition root: builds everything a calgate process needs from `Settings`, once.

Nothing in calgate creates engines, clients or reads configuration at import time; the CLI
and `create_app` call :func:`build_runtime`, and tests call it with their own settings and
a frozen clock.
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from calgate import __version__
from calgate.clock import Clock, SystemClock
from calgate.connections import Connections
from calgate.connections.jobs import register_connection_jobs
from calgate.errors import ConfigurationError, ServiceUnavailable
from calgate.jobs import JobQueue, JobRegistry, JobRunner
from calgate.jobs.housekeeping import PURGE, purge
from calgate.jobs.metrics import JobMetrics
from calgate.meetings import MeetingService, SchedulingAuthenticator, TrustService
from calgate.meetings.compose import build_meetings
from calgate.meetings.jobs import register_meeting_jobs
from calgate.meetings.sync import (
    MeetingSync,
    SyncedEventStore,
    SyncPolicyHook,
    build_meeting_sync,
    register_sync_jobs,
)
from calgate.metrics import Metrics
from calgate.notify.bus import create_bus
from calgate.notify.hub import COALESCED_KIND, NotificationHub, publish_coalesced_job
from calgate.notify.metrics import NotifyMetrics
from calgate.persistence import migrate as migrations
from calgate.persistence.db import create_engine, create_sessionmaker, database_problem
from calgate.persistence.uow import UnitOfWorkFactory
from calgate.security.keys import ServerKeys
from calgate.security.oidc import OidcVerifier
from calgate.security.sessions import SessionSigner
from calgate.security.totp import OperatorSecondFactor, resolve_totp_secret
from calgate.services.audit import AuditLog
from calgate.services.identity import Authenticator
from calgate.services.tenancy import Tenancy
from calgate.settings import AuthMode, Settings
from calgate.subscriptions.jobs import register_push_jobs
from calgate.subscriptions.metrics import PushMetrics
from calgate.subscriptions.service import PushServices
from calgate.sync.changes import ChangeConsumers
from calgate.vault.keys import load_keyring
from calgate.vault.service import EnvelopeVault

__all__ = [
    "DevSecrets",
    "Runtime",
    "build_runtime",
    "outgoing_ssl_context",
    "register_jobs",
    "resolve_secrets",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, repr=False)
class DevSecrets:
    operator_key: str
    secret_key: str
    generated: tuple[Path, ...] = ()


def _read_or_create(path: Path, *, create: bool) -> tuple[str, bool]:
    if path.exists():
        value = path.read_text().strip()
        if len(value) < 32:
            raise ConfigurationError(
                f"{path} holds fewer than 32 characters; delete it to regenerate"
            )
        return value, False
    if not create:
        raise ConfigurationError(f"{path} does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value, True


def resolve_secrets(settings: Settings) -> DevSecrets:
    """The operator key and server secret: from settings, or in development from key files
    in the data directory (generated on first use, mode 0600)."""
    generated: list[Path] = []
    values: dict[str, str] = {}
    for name, filename in (("operator_key", "operator.key"), ("secret_key", "secret.key")):
        configured = getattr(settings, name)
        if configured is not None:
            values[name] = configured.get_secret_value()
            continue
        if settings.is_production:  # settings validation already refuses this; belt and braces
            raise ConfigurationError(f"CALGATE_{name.upper()} must be set in production")
        path = settings.data_dir / filename
        values[name], created = _read_or_create(path, create=True)
        if created:
            generated.append(path)
    return DevSecrets(values["operator_key"], values["secret_key"], tuple(generated))


def outgoing_ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS for calls to providers (R4): system trust store plus the operator's CA bundle,
    TLS 1.2 or newer, verification always on."""
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.ca_bundle is not None:
        if not settings.ca_bundle.is_file():
            raise ConfigurationError(f"CALGATE_CA_BUNDLE: {settings.ca_bundle} is not a file")
        ctx.load_verify_locations(cafile=str(settings.ca_bundle))
    return ctx


def register_jobs(registry: JobRegistry) -> None:
    """Every job kind calgate runs, and its recurring work. Handlers are plain async
    functions; their keyword-only parameters are filled from the `Runtime` by name."""
    registry.register(PURGE, purge, max_attempts=3, timeout=timedelta(minutes=30))
    registry.schedule("purge", PURGE, every=timedelta(hours=1))
    registry.register(COALESCED_KIND, publish_coalesced_job, max_attempts=5)
    register_meeting_jobs(registry)
    register_sync_jobs(registry)
    register_connection_jobs(registry)
    register_push_jobs(registry)


@dataclass(eq=False)
class Runtime:
    """Everything long-lived in one calgate process."""

    settings: Settings
    clock: Clock
    engine: AsyncEngine
    uow: UnitOfWorkFactory
    http: httpx.AsyncClient
    metrics: Metrics
    keys: ServerKeys
    audit: AuditLog
    tenancy: Tenancy
    auth: Authenticator
    job_registry: JobRegistry
    jobs: JobQueue
    job_metrics: JobMetrics
    hub: NotificationHub
    vault: EnvelopeVault
    second_factor: OperatorSecondFactor
    meetings: MeetingService
    scheduling_trust: TrustService
    scheduling_auth: SchedulingAuthenticator
    connections: Connections
    push: PushServices
    sync_consumers: ChangeConsumers
    meeting_sync: MeetingSync
    secrets: DevSecrets = field(repr=False)
    _owns_http: bool = True

    async def check_database(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable("the database does not answer") from exc

    def handler_deps(self) -> dict[str, Any]:
        """What job handlers may ask for: every public piece of the runtime, by name."""
        deps: dict[str, Any] = {
            f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
        }
        deps["runtime"] = self
        return deps

    def job_runner(self, *, concurrency: int | None = None, **options: Any) -> JobRunner:
        """A runner for this process's jobs (``options`` go to `JobRunner`)."""
        options.setdefault("poll_interval", self.settings.jobs_poll_seconds)
        return JobRunner(
            uow=self.uow,
            jobs=self.job_registry.bind(self.handler_deps()),
            queue=self.jobs,
            clock=self.clock,
            metrics=self.job_metrics,
            concurrency=concurrency or self.settings.jobs_concurrency,
            **options,
        )

    async def aclose(self) -> None:
        await self.connections.aclose()
        await self.hub.aclose()
        if self._owns_http:
            await self.http.aclose()
        await self.engine.dispose()


async def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    http: httpx.AsyncClient | None = None,
    auto_migrate: bool | None = None,
    metrics: Metrics | None = None,
) -> Runtime:
    """Build a runtime. ``auto_migrate`` defaults to on for the embedded SQLite database;
    elsewhere the schema must already be current (``calgate migrate``)."""
    clock = clock or SystemClock()
    dev = resolve_secrets(settings)
    for path in dev.generated:
        log.warning(
            "generated a development key file at %s; set the matching CALGATE_* "
            "variable in production",
            path,
        )
    keyring = load_keyring(settings)
    if keyring.generated is not None:
        log.warning(
            "generated a vault master key at %s: back it up (without it no stored credential "
            "can be decrypted); production needs CALGATE_MASTER_KEY or CALGATE_MASTER_KEY_FILE",
            keyring.generated,
        )
    totp = resolve_totp_secret(settings)
    if totp.generated:
        log.warning(
            "generated the operator's TOTP secret at %s: enrol it in an authenticator app",
            totp.path,
        )
    engine = create_engine(settings.resolved_database_url)
    try:
        await _prepare_schema(engine, settings, auto_migrate)
    except BaseException:
        await engine.dispose()
        raise
    owns_http = http is None
    if http is None:
        http = httpx.AsyncClient(
            verify=outgoing_ssl_context(settings),
            timeout=httpx.Timeout(15.0, connect=5.0),
            headers={"User-Agent": f"calgate/{__version__}"},
            follow_redirects=False,
        )
    keys = ServerKeys.from_secret(dev.secret_key)
    audit = AuditLog(keys.audit, clock)
    sessions = SessionSigner(keys.session, timedelta(seconds=settings.session_ttl_seconds))
    oidc = None
    if (
        settings.effective_auth_mode is AuthMode.OIDC
        and settings.oidc_issuer
        and settings.oidc_audience
    ):
        oidc = OidcVerifier(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            http=http,
            clock=clock,
        )
    metrics = metrics or Metrics()
    metrics.build_info.labels(__version__).set(1)
    uow = UnitOfWorkFactory(
        create_sessionmaker(engine),
        create_sessionmaker(engine, readonly=True),
        serialize_writes=settings.is_sqlite,
    )
    job_registry = JobRegistry()
    register_jobs(job_registry)
    jobs = JobQueue(job_registry, clock)
    hub = NotificationHub(
        bus=create_bus(settings.bus_url, settings.bus_prefix, clock),
        uow=uow,
        clock=clock,
        metrics=NotifyMetrics(metrics.registry),
        jobs=jobs,
    )
    vault = EnvelopeVault(keyring.keyring, clock=clock, audit=audit)
    auth = Authenticator(operator_key=dev.operator_key, sessions=sessions, clock=clock, oidc=oidc)
    tenancy = Tenancy(clock=clock, audit=audit, vault=vault)
    connections = Connections(
        settings=settings, uow=uow, http=http, vault=vault, audit=audit, hub=hub, clock=clock
    )
    tenancy.user_deletion_hooks.append(connections.removals.forget_user)
    tenancy.policy_change_hooks.append(connections.vending.invalidate_account)
    push = PushServices(
        settings=settings,
        uow=uow,
        connections=connections,
        vault=vault,
        jobs=jobs,
        hub=hub,
        clock=clock,
        metrics=PushMetrics(metrics.registry),
    )
    connections.flows.hooks.append(push.on_connected)
    connections.removals.hooks.append(push.subscriptions.on_removed)
    tenancy.user_deletion_hooks.append(push.subscriptions.forget_user)
    meeting_parts = build_meetings(settings, clock=clock, http=http, audit=audit, auth=auth)
    meeting_sync = build_meeting_sync(
        settings=settings,
        uow=uow,
        meetings=meeting_parts.meetings,
        vault=vault,
        connections=connections,
        clock=clock,
    )
    push.consumers.register(meeting_sync)
    connections.removals.hooks.append(meeting_sync.on_connection_removed)
    tenancy.user_deletion_hooks.append(meeting_sync.forget_user)
    tenancy.policy_change_tx_hooks.append(SyncPolicyHook(store=SyncedEventStore(vault), jobs=jobs))
    return Runtime(
        settings=settings,
        clock=clock,
        engine=engine,
        uow=uow,
        http=http,
        metrics=metrics,
        keys=keys,
        audit=audit,
        tenancy=tenancy,
        auth=auth,
        job_registry=job_registry,
        jobs=jobs,
        job_metrics=JobMetrics(metrics.registry),
        hub=hub,
        vault=vault,
        second_factor=OperatorSecondFactor(totp.secret, clock, path=totp.path),
        meetings=meeting_parts.meetings,
        scheduling_trust=meeting_parts.trust,
        scheduling_auth=meeting_parts.callers,
        connections=connections,
        push=push,
        sync_consumers=push.consumers,
        meeting_sync=meeting_sync,
        secrets=dev,
        _owns_http=owns_http,
    )


async def _prepare_schema(
    engine: AsyncEngine, settings: Settings, auto_migrate: bool | None
) -> None:
    if auto_migrate is None:
        auto_migrate = settings.is_sqlite
    try:
        if auto_migrate:
            await migrations.upgrade(engine)
            return
        current = await migrations.current_revision(engine)
    except OSError as exc:
        raise ConfigurationError(f"cannot reach the database: {database_problem(exc)}") from exc
    except DBAPIError as exc:
        raise ConfigurationError(f"cannot use the database: {database_problem(exc)}") from exc
    head = migrations.head_revision()
    if current != head:
        raise ConfigurationError(
            f"the database schema is at {current or 'nothing'} but this calgate needs {head}: "
            "run `calgate migrate` first"
        )
