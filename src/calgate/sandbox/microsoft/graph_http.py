"""What every Graph endpoint shares: bearer-token checks, permission checks per mailbox,
throttling, ``Prefer`` headers, paging and the error body (provider-protocols §2.2, §2.5, §1.4).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from calgate.sandbox.core import SandboxCore
from calgate.sandbox.microsoft.errors import GraphError, graph_error_body
from calgate.sandbox.microsoft.render import OutputZone
from calgate.sandbox.microsoft.state import (
    GRAPH_APP_ID,
    GRAPH_RESOURCE,
    AppRegistration,
    MicrosoftState,
    User,
)
from calgate.sandbox.microsoft.timezones import resolve_zone
from calgate.sandbox.microsoft.tokens import TokenError, TokenSigner

if TYPE_CHECKING:
    from calgate.sandbox.microsoft.calendar import Calendar
    from calgate.sandbox.microsoft.notifier import Notifier

__all__ = ["Deps", "GraphContext", "graph_endpoint", "paged"]

log = logging.getLogger(__name__)

Area = Literal["Calendars", "Contacts"]
_PREFER = re.compile(r'([\w.\-]+)\s*=\s*("([^"]*)"|[^,;\s]+)')


@dataclass
class Deps:
    core: SandboxCore
    state: MicrosoftState
    signer: TokenSigner
    calendar: Calendar
    notifier: Notifier
    in_flight: Counter[tuple[str, str]] = field(default_factory=Counter)
    request_counts: Counter[tuple[str, str, int]] = field(default_factory=Counter)


@dataclass
class GraphContext:
    deps: Deps
    request: Request
    claims: dict[str, Any]
    app: AppRegistration
    caller: User | None  # the signed-in user for delegated tokens
    scopes: set[str]
    request_id: str
    client_request_id: str
    prefer: dict[str, str]
    applied: list[str] = field(default_factory=list)
    mailbox_key: tuple[str, str] | None = None

    @property
    def delegated(self) -> bool:
        return self.caller is not None

    @property
    def tenant_id(self) -> str:
        return str(self.claims["tid"])

    @property
    def graph_base(self) -> str:
        return str(self.request.base_url).rstrip("/") + "/microsoft/graph/v1.0"

    async def json(self) -> dict[str, Any]:
        try:
            body = json.loads(await self.request.body() or b"{}")
        except ValueError as exc:
            raise GraphError.bad_request(
                "Unable to read JSON request payload.", "BadRequest"
            ) from exc
        if not isinstance(body, dict):
            raise GraphError.bad_request("The request body must be a JSON object.", "BadRequest")
        return body

    def output_zone(self) -> OutputZone | None:
        name = self.prefer.get("outlook.timezone")
        if not name:
            return None
        try:
            zone = resolve_zone(name)
        except ValueError:
            return None
        self.applied.append(f'outlook.timezone="{name}"')
        return zone, name

    def page_size(self, default: int = 10) -> int:
        top = self.request.query_params.get("$top")
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                raise GraphError.bad_request(f"Invalid $top value '{top}'.", "BadRequest")
            return min(int(top), 1000)
        pref = self.prefer.get("odata.maxpagesize")
        if pref and pref.isdigit() and int(pref) > 0:
            self.applied.append(f"odata.maxpagesize={pref}")
            return min(int(pref), 1000)
        return default

    def select(self) -> set[str] | None:
        raw = self.request.query_params.get("$select")
        return {s.strip() for s in raw.split(",") if s.strip()} if raw else None

    def mailbox(self, ref: str | None, area: Area, *, write: bool = False) -> User:
        """The mailbox addressed by ``/me`` (ref None) or ``/users/{ref}``, permission-checked."""
        state = self.deps.state
        if ref is None:
            if self.caller is None:
                raise GraphError.bad_request(
                    "/me request is only valid with delegated authentication flow.", "BadRequest"
                )
            user = self.caller
        else:
            found = state.user(ref)
            if found is None or found.tenant_id != self.tenant_id:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
            user = found
        self._authorize(user, area, write)
        self._throttle(user)
        return user

    def _authorize(self, user: User, area: Area, write: bool) -> None:
        rw = f"{area}.ReadWrite"
        if self.caller is not None:
            own = user.id == self.caller.id
            needed = {rw} if write else {f"{area}.Read", rw}
            if not write and area == "Calendars":
                needed.add("Calendars.ReadBasic")
            if not own:
                needed = {n + ".Shared" for n in needed if not n.endswith("ReadBasic")}
            if not needed & self.scopes:
                raise GraphError.access_denied()
            return
        needed = {rw} if write else {f"{area}.Read", rw}
        if not needed & self.scopes:
            raise GraphError.access_denied()
        allowed = self.app.allowed_mailboxes
        if allowed is not None and not {user.id, user.upn.lower()} & allowed:
            raise GraphError.access_denied("Access to OData is disabled.")

    def _throttle(self, user: User) -> None:
        settings = self.deps.state.settings
        key = (self.app.client_id, user.id)
        window = int(self.deps.core.clock.now().timestamp() // 600)
        counts = self.deps.request_counts
        if counts and next(iter(counts))[2] != window:  # a new 10-minute window: start over
            counts.clear()
        counts[(*key, window)] += 1
        retry = {"Retry-After": str(settings.retry_after_seconds)}
        if self.deps.request_counts[(*key, window)] > settings.requests_per_10min:
            self.deps.core.count("microsoft", "graph.throttled")
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                headers=retry,
            )
        if self.deps.in_flight[key] >= settings.concurrent_requests:
            self.deps.core.count("microsoft", "graph.throttled")
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                headers=retry,
            )
        self.deps.in_flight[key] += 1
        self.mailbox_key = key

    def respond(
        self, body: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        hdrs = {"request-id": self.request_id, "client-request-id": self.client_request_id}
        if self.applied:
            hdrs["Preference-Applied"] = ", ".join(self.applied)
        hdrs.update(headers or {})
        if body is None:
            return Response(status_code=status, headers=hdrs)
        return JSONResponse(
            body,
            status_code=status,
            headers=hdrs,
            media_type="application/json;odata.metadata=minimal;odata.streaming=true",
        )


def _prefer(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for header in request.headers.getlist("prefer"):
        for m in _PREFER.finditer(header):
            found[m.group(1).lower()] = m.group(3) if m.group(3) is not None else m.group(2)
    return found


Handler = Callable[[GraphContext], Awaitable[Response]]


def graph_endpoint(deps: Deps, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: authenticate the bearer token, map :class:`GraphError` to Graph's body."""

    async def endpoint(request: Request) -> Response:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id") or request_id
        ctx: GraphContext | None = None
        try:
            ctx = _context(deps, request, request_id, client_request_id)
            return await handler(ctx)
        except GraphError as exc:
            body = graph_error_body(
                exc.code,
                exc.message,
                now=deps.core.clock.now(),
                request_id=request_id,
                client_request_id=client_request_id,
            )
            headers = {"request-id": request_id, "client-request-id": client_request_id}
            headers.update(exc.headers)
            return JSONResponse(body, status_code=exc.status, headers=headers)
        finally:
            if ctx is not None and ctx.mailbox_key is not None:
                deps.in_flight[ctx.mailbox_key] -= 1

    return endpoint


def _context(deps: Deps, request: Request, request_id: str, client_request_id: str) -> GraphContext:
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    unauthorized = {
        "WWW-Authenticate": 'Bearer realm="", authorization_uri='
        '"https://login.microsoftonline.com/common/oauth2/authorize"'
    }
    if scheme.lower() != "bearer" or not token:
        raise GraphError(
            401, "InvalidAuthenticationToken", "Access token is empty.", headers=unauthorized
        )
    try:
        claims = deps.signer.verify(
            token.strip(), now=deps.core.clock.now(), audiences=(GRAPH_RESOURCE, GRAPH_APP_ID)
        )
    except TokenError as exc:
        message = str(exc) if exc.expired else "Access token validation failure. Invalid audience."
        if not exc.expired and "audience" not in str(exc).lower():
            message = "IDX14100: JWT is not well formed."
        raise GraphError(401, "InvalidAuthenticationToken", message, headers=unauthorized) from exc
    app = deps.state.apps.get(str(claims.get("appid")))
    if app is None:
        raise GraphError(
            401,
            "InvalidAuthenticationToken",
            "The application no longer exists.",
            headers=unauthorized,
        )
    caller = None
    if claims.get("idtyp") == "user":
        caller = deps.state.users.get(str(claims.get("oid")))
        if caller is None:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "The user no longer exists.",
                headers=unauthorized,
            )
        scopes = set(str(claims.get("scp", "")).split())
    else:
        scopes = {str(r) for r in claims.get("roles", [])}
    return GraphContext(
        deps, request, claims, app, caller, scopes, request_id, client_request_id, _prefer(request)
    )


def paged(ctx: GraphContext, items: list[Any], context: str, *, default_size: int = 10) -> Response:
    """One page of ``items`` with ``@odata.nextLink`` (``$skip``) while more remain (§2.1)."""
    size = ctx.page_size(default_size)
    raw_skip = ctx.request.query_params.get("$skip", "0")
    skip = int(raw_skip) if raw_skip.isdigit() else 0
    body: dict[str, Any] = {"@odata.context": f"{ctx.graph_base}/$metadata#{context}"}
    body["value"] = items[skip : skip + size]
    if skip + size < len(items):
        params = dict(ctx.request.query_params)
        params["$skip"] = str(skip + size)
        if "$top" in params:
            params["$top"] = str(size)
        query = urlencode(params, safe="$:")
        body["@odata.nextLink"] = str(ctx.request.url.replace(query=query))
    return ctx.respond(body)
