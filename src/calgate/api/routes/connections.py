"""A signed-in user's calendar connections: connect (OAuth), list, remove, and token vending
(``GET /v1/me/credentials``, R10); plus the browser legs of the OAuth flow
(``/v1/oauth/start`` and ``/v1/oauth/callback``)."""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, Template, select_autoescape
from starlette.routing import Route

from calgate.api.deps import RuntimeDep, UserDep, bearer_token
from calgate.api.problems import problem_response
from calgate.api.routes.connection_schemas import (
    AuthorizeIn,
    AuthorizeOut,
    ConnectionOut,
    CredentialsOut,
    PermissionsOut,
)
from calgate.bootstrap import Runtime
from calgate.connections.flow import ConnectRefused, cookie_name, state_hash
from calgate.connections.vending import VendResult
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Forbidden, InvalidInput, Unauthenticated

__all__ = ["hot_routes", "router"]

router = APIRouter(tags=["connections"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"
_PROVIDER_NAMES = {"google": "Google Calendar", "microsoft": "Microsoft 365"}


@functools.cache
def _template() -> Template:
    env = Environment(
        loader=PackageLoader("calgate", "templates"), autoescape=select_autoescape(["html"])
    )
    return env.get_template("connection.html")


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _page(state: str, title: str, message: str, status_code: int) -> HTMLResponse:
    html = _template().render(state=state, title=title, message=message)
    return HTMLResponse(
        html, status_code=status_code, headers={"Content-Security-Policy": _CSP, **NO_STORE}
    )


async def session_user(request: Request, runtime: Runtime) -> Principal:
    """The calling user from the session token's signature alone; the vend query itself
    checks that the user still exists. Admin and operator keys are told this is a user
    route."""
    token = bearer_token(request)
    try:
        return runtime.auth.session_principal(token)
    except Unauthenticated:
        async with runtime.uow(readonly=True) as uow:
            principal = await runtime.auth.authenticate(uow, token)
        if principal.kind is not PrincipalKind.USER:
            raise Forbidden(
                "this route is for signed-in users: use a session token from POST /v1/sessions"
            ) from None
        raise


# connect ----------------------------------------------------------------------------------
@router.post(
    "/v1/me/connections/{provider}/authorize",
    response_model=AuthorizeOut,
    summary="Start connecting a calendar: get the URL to open in the user's browser",
)
async def authorize(
    provider: str, principal: UserDep, runtime: RuntimeDep, body: AuthorizeIn | None = None
) -> AuthorizeOut:
    started = await runtime.connections.flows.start(
        principal, provider, login_hint=body.login_hint if body else None
    )
    return AuthorizeOut(
        authorization_url=started.authorization_url,
        provider=started.provider.value,
        scopes=list(started.scopes),
        permissions=PermissionsOut.of(started.permissions),
        expires_at=started.expires_at,
    )


@router.get(
    "/v1/oauth/start",
    response_class=RedirectResponse,
    status_code=status.HTTP_302_FOUND,
    summary="Browser leg: bind the connection attempt to this browser, go to the provider",
)
async def oauth_start(
    request: Request, runtime: RuntimeDep, state: str = Query(max_length=200)
) -> Response:
    try:
        started = await runtime.connections.flows.open(state)
    except ConnectRefused as exc:
        if _wants_html(request):
            return _page("Not connected", "This link cannot be used", exc.detail, 400)
        return problem_response(400, exc.detail, slug="connect-refused", reason=exc.reason)
    response = RedirectResponse(started.provider_url, status_code=302, headers=NO_STORE)
    response.set_cookie(
        started.cookie_name,
        started.cookie_value,
        max_age=started.max_age,
        path="/v1/oauth",
        secure=started.secure,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get(
    "/v1/oauth/callback",
    summary="Browser leg: the provider's redirect; completes the connection",
    responses={400: {"description": "refused: nothing was stored"}},
)
async def oauth_callback(
    request: Request,
    runtime: RuntimeDep,
    state: str | None = Query(default=None, max_length=200),
    code: str | None = Query(default=None, max_length=4000),
    error: str | None = Query(default=None, max_length=200),
) -> Response:
    try:
        done = await runtime.connections.flows.complete(
            state=state, code=code, error=error, cookies=request.cookies
        )
    except ConnectRefused as exc:
        if _wants_html(request):
            response: Response = _page(
                "Not connected", "Your calendar was not connected", exc.detail, 400
            )
        else:
            response = problem_response(400, exc.detail, slug="connect-refused", reason=exc.reason)
    else:
        c = done.connection
        name = _PROVIDER_NAMES.get(c.provider.value, c.provider.value)
        if _wants_html(request):
            response = _page(
                "Connected",
                f"{name} is connected",
                f"calgate can now give your apps access to {c.account_email}'s calendar.",
                200,
            )
        else:
            response = JSONResponse(
                {
                    "status": "reconnected" if done.reconnected else "connected",
                    "connection_id": str(c.id),
                    "provider": c.provider.value,
                    "account_email": c.account_email,
                },
                headers=NO_STORE,
            )
    if state:
        response.delete_cookie(cookie_name(state_hash(state)), path="/v1/oauth")
    return response


# list / remove -----------------------------------------------------------------------------
@router.get(
    "/v1/me/connections",
    response_model=list[ConnectionOut],
    summary="Your calendar connections",
)
async def list_connections(principal: UserDep, runtime: RuntimeDep) -> list[ConnectionOut]:
    assert principal.account_id is not None
    assert principal.user_id is not None
    items = await runtime.connections.list_for(principal, principal.account_id, principal.user_id)
    return [ConnectionOut.of(i) for i in items]


@router.delete(
    "/v1/me/connections/{connection_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove one of your calendar connections (its tokens are deleted at once)",
)
async def remove_connection(
    connection_id: uuid.UUID, principal: UserDep, runtime: RuntimeDep
) -> None:
    assert principal.account_id is not None
    assert principal.user_id is not None
    await runtime.connections.removals.remove(
        principal, principal.account_id, principal.user_id, connection_id
    )


# vending -----------------------------------------------------------------------------------
def _credentials_body(result: VendResult, runtime: Runtime) -> dict[str, Any]:
    now = runtime.clock.now()
    items: list[dict[str, Any]] = []
    for v in result.credentials:
        c, t = v.connection, v.token
        items.append(
            {
                "connection_id": str(c.id),
                "provider": c.provider.value,
                "status": "active",
                "account_email": c.account_email,
                "access_token": t.access_token.reveal(),
                "token_type": "Bearer",
                "expires_at": t.expires_at.isoformat().replace("+00:00", "Z"),
                "expires_in": max(0, int((t.expires_at - now).total_seconds())),
                "api_base_url": v.api_base_url,
                "permissions": v.permissions.as_dict(),
                "scopes": sorted(t.scopes),
            }
        )
    for u in result.unavailable:
        items.append(
            {
                "connection_id": str(u.connection.id),
                "provider": u.connection.provider.value,
                "status": u.status,
                "account_email": u.connection.account_email,
                "detail": u.detail,
                "reauth_url": u.reauth_url,
            }
        )
    return {"connections": items}


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class _RenderedVends:
    """Per process: the last response body of each (user, filters), reused while the view
    it was made from is current, within the same second (``expires_in`` counts seconds) and
    before any of its tokens is due for refresh. Any change to the user's connections,
    tokens or policy replaces the view, so a stale body is never served."""

    def __init__(self) -> None:
        self.bodies: dict[tuple[object, ...], tuple[object, int, datetime, bytes]] = {}

    def get(self, key: tuple[object, ...], view: object, now: datetime) -> bytes | None:
        hit = self.bodies.get(key)
        if hit is None or hit[0] is not view or hit[1] != int(now.timestamp()) or now >= hit[2]:
            return None
        return hit[3]

    def put(
        self, key: tuple[object, ...], view: object, now: datetime, until: datetime, body: bytes
    ) -> None:
        if len(self.bodies) > 50_000:
            self.bodies.clear()
        self.bodies[key] = (view, int(now.timestamp()), until, body)


def _rendered(request: Request) -> _RenderedVends:
    found = getattr(request.app.state, "rendered_vends", None)
    if found is None:
        found = request.app.state.rendered_vends = _RenderedVends()
    assert isinstance(found, _RenderedVends)
    return found


async def _vend(request: Request) -> Response:
    """``GET /v1/me/credentials``, served by a plain Starlette route (it is the hottest path
    calgate has: every app calls it at sign-in and on every provider 401): no dependency
    injection, no response-model validation. The FastAPI declaration below documents it."""
    runtime: Runtime = request.app.state.runtime
    request.scope["route"] = _VEND_ROUTE  # for the request metrics' path label
    force, connection_id, provider = False, None, None
    if request.scope.get("query_string"):
        q = request.query_params
        flag = q.get("force_refresh", "").lower()
        if flag not in _TRUE | _FALSE:
            raise InvalidInput("force_refresh must be true or false", field="force_refresh")
        force = flag in _TRUE
        if q.get("connection_id"):
            try:
                connection_id = uuid.UUID(q["connection_id"])
            except ValueError:
                raise InvalidInput("connection_id must be a UUID", field="connection_id") from None
        provider = q.get("provider") or None
    principal = await session_user(request, runtime)
    vending = runtime.connections.vending
    rendered = _rendered(request)
    key = (principal.user_id, principal.account_id, connection_id, provider)
    view, _ = await vending.load(principal, fresh=False)
    now = runtime.clock.now()
    if not force:
        body = rendered.get(key, view, now)
        if body is not None:
            return Response(body, media_type="application/json", headers=NO_STORE)
    result = await vending.vend(
        principal, force=force, connection_id=connection_id, provider=provider
    )
    body = json.dumps(_credentials_body(result, runtime), separators=(",", ":")).encode()
    if result.credentials:
        margin = runtime.connections.broker.margin
        until = min(v.token.expires_at for v in result.credentials) - margin
        rendered.put(key, view, now, until, body)
    return Response(body, media_type="application/json", headers=NO_STORE)


_VEND_ROUTE = Route("/v1/me/credentials", _vend, methods=["GET"])
hot_routes = [_VEND_ROUTE]
"""Routes the app puts in front of every other: plain Starlette endpoints for hot paths."""


@router.get(
    "/v1/me/credentials",
    response_model=CredentialsOut,
    summary="Token vending: a fresh access token per connection (R10)",
    responses={
        404: {"description": "no calendar connected (or it was removed: `removed` says when)"},
        409: {
            "description": "no usable connection: the grant is dead, connect again at `reauth_url`"
        },
    },
)
async def credentials(
    request: Request,
    force_refresh: bool = Query(
        default=False,
        description="Refresh even if the cached token looks valid (the provider refused it).",
    ),
    connection_id: uuid.UUID | None = Query(default=None),
    provider: str | None = Query(default=None, max_length=32),
) -> Response:
    """Per connection of the signed-in user: ``active`` ones with an access token (served
    from cache until 5 minutes before it expires, then refreshed once for everyone), its
    expiry, the provider API base URL and the permissions it carries; unusable ones with
    their status and a ``reauth_url``. The refresh token is never vended. (Served by
    `hot_routes`; this declaration documents it.)"""
    return await _vend(request)
