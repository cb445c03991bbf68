"""A Google OAuth client (app registration) and the endpoints it talks to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["GoogleConfig"]

AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
API_BASE_URL = "https://www.googleapis.com/calendar/v3"


class GoogleConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(
        title="Client ID",
        min_length=1,
        description="OAuth 2.0 client id of a Google Cloud 'Web application' client.",
    )
    client_secret: SecretStr = Field(title="Client secret", description="Its client secret.")
    auth_url: str = Field(default=AUTH_URL, title="Authorization endpoint")
    token_url: str = Field(default=TOKEN_URL, title="Token endpoint")
    revoke_url: str = Field(default=REVOKE_URL, title="Revocation endpoint")
    api_base_url: str = Field(default=API_BASE_URL, title="Calendar API v3 base URL")

    @classmethod
    def at(cls, oauth_base: str | None, api_base: str | None, **values: object) -> GoogleConfig:
        """Endpoints below one OAuth base URL laid out like Google's (``/o/oauth2/v2/auth``,
        ``/token``, ``/revoke``), as the sandbox serves them; ``None`` keeps Google's own."""
        if oauth_base:
            base = oauth_base.rstrip("/")
            values.update(
                auth_url=f"{base}/o/oauth2/v2/auth",
                token_url=f"{base}/token",
                revoke_url=f"{base}/revoke",
            )
        if api_base:
            values["api_base_url"] = api_base.rstrip("/")
        return cls.model_validate(values)
