"""A Microsoft Entra ID app registration and the endpoints it talks to."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["MicrosoftConfig"]

AUTHORITY = "https://login.microsoftonline.com"
GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"


class MicrosoftConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(
        title="Application (client) ID", min_length=1, description="The app registration's id."
    )
    client_secret: SecretStr = Field(title="Client secret", description="A client secret value.")
    tenant: str = Field(
        default="common",
        title="Tenant",
        description="`common` (any work account, multi-tenant app), `organizations`, a tenant "
        "id or a verified domain (single-tenant app).",
    )
    authority: str = Field(default=AUTHORITY, title="Authority (login host)")
    graph_base_url: str = Field(default=GRAPH_BASE_URL, title="Microsoft Graph v1.0 base URL")

    @property
    def authorize_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant}/oauth2/v2.0/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.authority.rstrip('/')}/{self.tenant}/oauth2/v2.0/token"
