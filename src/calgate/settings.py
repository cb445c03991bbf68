"""Settings: every ``CALGATE_*`` environment variable, parsed and validated once.

`Settings` is built in the composition root (:mod:`calgate.bootstrap` or the CLI) and passed
down; no module reads the environment on its own and nothing here does I/O at import time.
The README's settings table is generated from the field descriptions below (a test keeps
them in step).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["AuthMode", "Environment", "LogFormat", "Settings", "normalise_database_url"]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class AuthMode(StrEnum):
    LOCAL = "local"
    OIDC = "oidc"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """calgate configuration (environment variables prefixed ``CALGATE_``)."""

    model_config = SettingsConfigDict(
        env_prefix="CALGATE_",
        env_file=None,
        extra="ignore",
        frozen=True,
        validate_default=True,
        hide_input_in_errors=True,  # a rejected key or secret must not echo in the error
    )

    env: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="`development` (embedded, generated dev keys allowed) or `production` "
        "(every key must be configured; refuses to start otherwise).",
    )
    data_dir: Path = Field(
        default=Path("calgate-data"),
        description="Directory for the embedded SQLite database and generated dev key files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. `postgresql+asyncpg://user@host/db`. "
        "Default: SQLite file `<data_dir>/calgate.db`.",
    )
    public_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8080"),
        description="Base URL under which apps, browsers and providers reach this service "
        "(used for OAuth redirects, join links and webhook addresses).",
    )
    operator_key: SecretStr | None = Field(
        default=None,
        description="Bootstrap operator API key (at least 32 characters). Development: "
        "generated into `<data_dir>/operator.key` when unset.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server secret (at least 32 characters) from which session-signing and "
        "audit-chain keys are derived. Development: generated into `<data_dir>/secret.key`.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Vault master key (key-encryption key): base64 of 32 random bytes "
        "(`calgate keys generate` or `openssl rand -base64 32`). Unset: the key file "
        "`CALGATE_MASTER_KEY_FILE`. Production refuses to start without one of the two.",
    )
    master_key_previous: SecretStr | None = Field(
        default=None,
        description="Comma-separated previous master keys, kept only to unwrap data keys "
        "while `calgate keys rewrap` moves them to the current `CALGATE_MASTER_KEY`.",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="Vault key file (mode 0600, made by `calgate keys generate`; first line "
        "current key, later lines previous keys). Default: `<data_dir>/master.key`, "
        "generated on first start in development.",
    )
    operator_totp_secret: SecretStr | None = Field(
        default=None,
        description="Base32 TOTP secret of the operator's second factor, required with the "
        "operator key by key rotation, rewrap and bulk credential purge (header "
        "`X-Calgate-OTP`). Development: generated into `<data_dir>/operator-totp.secret`.",
    )
    auth_mode: AuthMode | None = Field(
        default=None,
        description="How users sign in: `local` (calgate's own user directory) or `oidc` "
        "(an ID token from `CALGATE_OIDC_ISSUER`). Default: local in development, oidc in "
        "production.",
    )
    oidc_issuer: str | None = Field(
        default=None, description="OIDC issuer whose ID tokens are accepted by POST /v1/sessions."
    )
    oidc_audience: str | None = Field(
        default=None, description="Expected `aud` of OIDC ID tokens (the client id)."
    )
    oidc_jwks_url: str | None = Field(
        default=None,
        description="JWKS URL of the OIDC issuer. Default: discovered from "
        "`<issuer>/.well-known/openid-configuration`.",
    )
    session_ttl_seconds: int = Field(
        default=900,
        ge=60,
        le=86_400,
        description="Lifetime of user session tokens issued by POST /v1/sessions.",
    )
    log_level: str = Field(default="INFO", description="Log level (DEBUG, INFO, WARNING, ERROR).")
    log_wire: bool = Field(
        default=False,
        description="Also log the WebSocket stack's wire details (handshake headers, "
        "frames) at DEBUG. They carry apps' session tokens: for debugging a development "
        "server only.",
    )
    log_format: LogFormat = Field(
        default=LogFormat.TEXT, description="`text` for humans or `json` (one object per line)."
    )
    ca_bundle: Path | None = Field(
        default=None,
        description="Extra CA bundle (PEM) trusted for outgoing TLS, e.g. an on-premises "
        "Exchange server's CA. Certificate verification is never switched off.",
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1"],
        description="Comma-separated addresses whose X-Forwarded-* headers are trusted when "
        "serving `--behind-proxy`.",
    )

    bus_url: str | None = Field(
        default=None,
        description="Redis URL (`redis://host:6379/0`) of the notification bus that carries "
        "user notifications between calgate processes. Unset: in-process bus (one process).",
    )
    bus_prefix: str = Field(
        default="calgate",
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Redis channel prefix of this deployment's notification bus, so several "
        "deployments can share one Redis.",
    )
    jobs_concurrency: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Background jobs run at once by one process (`calgate worker` and "
        "`calgate serve` without `--no-jobs`).",
    )
    jobs_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="How often an idle job runner looks for due jobs (jobs enqueued by the "
        "same process wake it at once).",
    )
    jobs_retention_days: int = Field(
        default=7,
        ge=1,
        le=3650,
        description="Finished (`done`) jobs are deleted after this many days; `dead` jobs are "
        "kept four times as long for inspection.",
    )
    notification_retention_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 90,
        description="How long user notifications are kept for apps that resume a stream with "
        "`Last-Event-ID`.",
    )
    heartbeat_seconds: float = Field(
        default=15.0,
        ge=0.01,
        le=300,
        description="Interval of heartbeats on notification streams (SSE comments, WebSocket "
        '`{"type": "heartbeat"}` messages).',
    )

    join_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Base of meeting join links: a meeting's link is `<base><meeting id>`. "
        "Default: `<public_url>/j/` (calgate's own join page).",
    )
    meeting_provider: str = Field(
        default="builtin",
        min_length=1,
        description="Where meetings live: `builtin` (calgate's registry), the name of an "
        "installed `calgate.meetings` entry point, or `module:Class` (a MeetingProvider).",
    )
    meeting_id_digits: int = Field(
        default=11, ge=9, le=11, description="Digits of new meeting ids (random, 9 to 11)."
    )
    meeting_passcode_digits: int = Field(
        default=8, ge=6, le=10, description="Digits of new meeting passcodes (random, 6 to 10)."
    )
    meeting_join_early_minutes: int = Field(
        default=15,
        ge=0,
        le=1440,
        description="How long before a meeting's first start its join page offers to join.",
    )
    meeting_client_url: str = Field(
        default="calgate-meeting://join?meeting_id={meeting_id}",
        description="Target of the join page's button: the platform client's URL (scheme or "
        "https), with `{meeting_id}` replaced by the meeting id.",
    )
    meeting_sip_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="Domain for a `<meeting id>@<domain>` dial string in invitations (video "
        "room systems). Unset: no dial string.",
    )
    meeting_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Expired and cancelled meetings are deleted this many days after they "
        "expired or were cancelled; until then their join page says so.",
    )
    meeting_show_topic: bool = Field(
        default=False,
        description="Show the meeting topic on the public join page (anyone with the link "
        "sees it). Off: the page shows only the state and the time.",
    )
    entra_authority: str = Field(
        default="https://login.microsoftonline.com",
        description="Microsoft Entra ID authority for add-in (NAA) tokens: accepted issuer "
        "`<authority>/<tenant id>/v2.0`, keys from its OpenID discovery document. Unset "
        "with `CALGATE_SANDBOX_URL` set: the sandbox's `<sandbox>/microsoft`.",
    )
    naa_audiences: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated default audiences of add-in (NAA) tokens: the add-in's "
        "application id and/or `api://…` URI, for accounts that configure none of their own.",
    )
    exchange_addin_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated default audiences of Exchange identity tokens: the URLs "
        "of the add-in's pages, for accounts that configure none of their own.",
    )

    google_client_id: str | None = Field(
        default=None,
        description="OAuth client id of the deployment's Google Cloud app (type 'Web "
        "application'); accounts may configure their own (PUT /v1/accounts/{a}/providers/google).",
    )
    google_client_secret: SecretStr | None = Field(
        default=None, description="Client secret of `CALGATE_GOOGLE_CLIENT_ID`."
    )
    google_oauth_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Base of Google's OAuth endpoints laid out as `<base>/o/oauth2/v2/auth`, "
        "`<base>/token`, `<base>/revoke` (the sandbox's `<sandbox>/google`). Unset: Google's "
        "own endpoints.",
    )
    google_api_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Calendar API v3 base URL. Unset: `https://www.googleapis.com/calendar/v3`.",
    )
    microsoft_client_id: str | None = Field(
        default=None,
        description="Application (client) id of the deployment's Microsoft Entra ID app "
        "registration; accounts may configure their own.",
    )
    microsoft_client_secret: SecretStr | None = Field(
        default=None, description="A client secret of `CALGATE_MICROSOFT_CLIENT_ID`."
    )
    microsoft_tenant: str = Field(
        default="common",
        min_length=1,
        pattern=r"^[A-Za-z0-9.-]+$",
        description="Entra ID tenant users sign in through: `common` (multi-tenant app), "
        "`organizations`, a tenant id or a verified domain.",
    )
    microsoft_oauth_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Entra ID authority (login host) for user connections. Unset: "
        "`https://login.microsoftonline.com`.",
    )
    microsoft_graph_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Microsoft Graph base URL. Unset: `https://graph.microsoft.com/v1.0`.",
    )
    sandbox_url: AnyHttpUrl | None = Field(
        default=None,
        description="Point every provider URL at a `calgate sandbox` (development only), "
        "and `CALGATE_ENTRA_AUTHORITY` too unless it is set; without configured client ids "
        "the sandbox's seeded fake apps are used.",
    )
    oauth_redirect_uri: AnyHttpUrl | None = Field(
        default=None,
        description="Redirect URI registered with the providers. Default: "
        "`<public_url>/v1/oauth/callback`.",
    )
    oauth_state_ttl_seconds: int = Field(
        default=600,
        ge=60,
        le=600,
        description="How long a started calendar connection may take (the OAuth `state` "
        "lifetime, at most 10 minutes).",
    )
    token_refresh_margin_seconds: int = Field(
        default=300,
        ge=0,
        le=1800,
        description="Vended access tokens are refreshed this long before they expire.",
    )
    vend_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=30,
        description="How long one process vends from its in-memory view of a user's "
        "connections and policy before reading them again (0: read on every vend). Changes "
        "made through a process apply there at once; removals and dead grants reach other "
        "processes over the bus at once, other changes within twice this time.",
    )
    connection_keepalive_days: int = Field(
        default=30,
        ge=1,
        le=80,
        description="A connection whose refresh token has not been used for this many days "
        "is refreshed by the keep-alive job, long before it would lapse (Microsoft: 90 "
        "days inactive, Google: 6 months unused).",
    )
    webhook_base_url: AnyHttpUrl | None = Field(
        default=None,
        description="Base URL providers send change notifications to (`/webhooks/google`, "
        "`/webhooks/microsoft`, `/webhooks/microsoft/lifecycle` below it). Default: "
        "`public_url`. Set it when the public URL is not reachable by the providers (e.g. a "
        "tunnel or a separate ingress for webhooks).",
    )
    reconcile_minutes: int = Field(
        default=30,
        ge=1,
        le=1440,
        description="Every connection is synced at least this often even when no "
        "notification arrives (a cheap incremental sync: one request when nothing changed), "
        "so a dropped notification is always caught.",
    )
    subscription_minutes: int = Field(
        default=10_070,
        ge=5,
        le=43_200,
        description="Lifetime calgate asks for when it creates or renews a change "
        "subscription (Graph allows under 7 days for events, Google channels default to 7 "
        "days). The provider's answer is authoritative; renewal starts at 80 % of it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _sandbox_authority(cls, data: object) -> object:
        """With a sandbox URL, add-in (NAA) tokens come from the sandbox's Entra ID too,
        unless the authority is set explicitly."""
        if isinstance(data, dict) and data.get("sandbox_url") and "entra_authority" not in data:
            return {**data, "entra_authority": f"{str(data['sandbox_url']).rstrip('/')}/microsoft"}
        return data

    @field_validator("trusted_proxies", "naa_audiences", "exchange_addin_urls", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("meeting_client_url")
    @classmethod
    def _client_url(cls, value: str) -> str:
        scheme = value.partition(":")[0].lower()
        unsafe = {"javascript", "data", "vbscript"}
        if "{meeting_id}" not in value or not scheme or scheme in unsafe:
            raise ValueError("must be a URL containing {meeting_id}")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("master_key")
    @classmethod
    def _master_key(cls, value: SecretStr | None) -> SecretStr | None:
        from calgate.vault.keys import decode_master_key

        if value is not None:
            decode_master_key(value.get_secret_value())
        return value

    @field_validator("master_key_previous")
    @classmethod
    def _previous_keys(cls, value: SecretStr | None) -> SecretStr | None:
        from calgate.vault.keys import decode_master_key

        if value is not None:
            for part in value.get_secret_value().split(","):
                if part.strip():
                    decode_master_key(part)
        return value

    @field_validator("operator_totp_secret")
    @classmethod
    def _totp_secret(cls, value: SecretStr | None) -> SecretStr | None:
        from calgate.security.totp import check_totp_secret

        if value is not None:
            check_totp_secret(value.get_secret_value())
        return value

    @field_validator("operator_key", "secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (use `openssl rand -base64 32`)")
        return value

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.env is Environment.PRODUCTION:
            missing = [
                name for name in ("operator_key", "secret_key") if getattr(self, name) is None
            ]
            if missing:
                names = ", ".join(f"CALGATE_{m.upper()}" for m in missing)
                raise ValueError(f"production needs {names} to be set")
            if self.effective_auth_mode is AuthMode.OIDC and not (
                self.oidc_issuer and self.oidc_audience
            ):
                raise ValueError(
                    "production sign-in uses OIDC: set CALGATE_OIDC_ISSUER and "
                    "CALGATE_OIDC_AUDIENCE (or CALGATE_AUTH_MODE=local)"
                )
            if self.sandbox_url is not None:
                raise ValueError(
                    "CALGATE_SANDBOX_URL points calgate at the fake providers of `calgate "
                    "sandbox`; it is for development only"
                )
            if self.master_key is None and self.master_key_file is None:
                raise ValueError(
                    "production needs a vault master key: set CALGATE_MASTER_KEY (base64 of "
                    "32 bytes) or CALGATE_MASTER_KEY_FILE (made by `calgate keys generate`)"
                )
        return self

    @property
    def effective_auth_mode(self) -> AuthMode:
        if self.auth_mode is not None:
            return self.auth_mode
        return AuthMode.OIDC if self.env is Environment.PRODUCTION else AuthMode.LOCAL

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'calgate.db').resolve()}"

    @property
    def resolved_join_base_url(self) -> str:
        if self.join_base_url is not None:
            return str(self.join_base_url).rstrip("/") + "/"
        return str(self.public_url).rstrip("/") + "/j/"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``, ``sqlite:///``) and
    return the async-driver form SQLAlchemy needs."""
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url
