"""Scope strings and tenant path segments of the Entra ID emulator (provider-protocols §1.1,
§1.6)."""

from __future__ import annotations

from dataclasses import dataclass

from calgate.sandbox.microsoft.aadsts import AadstsError
from calgate.sandbox.microsoft.state import GRAPH_APP_ID, GRAPH_RESOURCE, MicrosoftState, Tenant

__all__ = ["OIDC_SCOPES", "RequestedScopes", "TenantRef", "parse_scopes", "resolve_tenant"]

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_DELEGATED = frozenset(
    {
        "User.Read",
        "User.ReadBasic.All",
        "User.Read.All",
        "Calendars.Read",
        "Calendars.ReadBasic",
        "Calendars.ReadWrite",
        "Calendars.Read.Shared",
        "Calendars.ReadWrite.Shared",
        "Contacts.Read",
        "Contacts.ReadWrite",
        "Contacts.Read.Shared",
        "Contacts.ReadWrite.Shared",
        "Place.Read.All",
        "MailboxSettings.Read",
        "MailboxSettings.ReadWrite",
        "Mail.Read",
        "Mail.Send",
    }
)
_CANONICAL = {s.lower(): s for s in GRAPH_DELEGATED}
_MULTI = {"common", "organizations", "consumers"}


@dataclass(frozen=True)
class TenantRef:
    segment: str
    tenant: Tenant | None  # None for common / organizations

    @property
    def is_specific(self) -> bool:
        return self.tenant is not None


def resolve_tenant(state: MicrosoftState, segment: str) -> TenantRef:
    if segment.lower() in ("common", "organizations"):
        return TenantRef(segment, None)
    tenant = state.tenant(segment)
    if tenant is None or segment.lower() == "consumers":
        raise AadstsError(
            "invalid_request",
            90002,
            f"Tenant '{segment}' not found. Check to make sure you have the correct "
            "tenant ID and are signing into the correct cloud.",
        )
    return TenantRef(segment, tenant)


@dataclass(frozen=True)
class RequestedScopes:
    graph: tuple[str, ...]  # short names, e.g. Calendars.Read, or ".default"
    oidc: frozenset[str]

    @property
    def is_default(self) -> bool:
        return ".default" in self.graph


def parse_scopes(raw: str) -> RequestedScopes:
    """Split ``scope`` into Graph scopes and OIDC scopes; ``invalid_scope`` (AADSTS70011) for
    scopes of other resources or unknown names."""
    graph: list[str] = []
    oidc: set[str] = set()
    for item in raw.split():
        if item.lower() in OIDC_SCOPES:
            oidc.add(item.lower())
            continue
        name = item
        for prefix in (GRAPH_RESOURCE + "/", GRAPH_APP_ID + "/"):
            if item.lower().startswith(prefix.lower()):
                name = item[len(prefix) :]
                break
        else:
            if "/" in item or ":" in item:
                raise AadstsError(
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' is not "
                    f"valid. The scope {item} is not valid.",
                )
        if name == ".default":
            graph.append(name)
            continue
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            raise AadstsError(
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid. "
                f"The scope {item} is not valid.",
            )
        if canonical not in graph:
            graph.append(canonical)
    return RequestedScopes(tuple(graph), frozenset(oidc))
