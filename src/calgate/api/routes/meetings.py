"""The scheduling API (R11, R14): ``/v1/meetings…`` for users and scheduling tools, the
add-in identities a user linked (``/v1/me/scheduling-identities``), and for account admins
the accepted add-in tokens (``/v1/accounts/{a}/scheduling-auth``) and a meeting listing.

Callers authenticate with ``Authorization: Bearer`` and one of: a calgate session token, an
Outlook add-in's Entra ID token (nested app authentication) or an Exchange user identity
token (see :mod:`calgate.meetings.callers`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse

from calgate.api.deps import PrincipalDep, RuntimeDep, UowDep, UserDep, bearer_token
from calgate.api.problems import problem_response
from calgate.api.routes.meeting_schemas import (
    IdentityLinkIn,
    LinkedIdentityOut,
    MeetingIn,
    MeetingOut,
    MeetingPatch,
    MeetingSummaryOut,
    SchedulingAuthIn,
    SchedulingAuthOut,
    StateFilter,
)
from calgate.api.routes.schemas import Page
from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal
from calgate.errors import InvalidInput
from calgate.meetings.model import Meeting
from calgate.meetings.service import VersionMismatch, encode_cursor

__all__ = ["router"]

router = APIRouter()

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such meeting of the caller (another user's or tenant's included)"}
}
CHANGES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "the meeting is cancelled, or changed concurrently"},
    412: {"description": "If-Match names a version the meeting is no longer at"},
}


async def get_scheduler(request: Request, runtime: RuntimeDep) -> Principal:
    """The user behind a session token, an add-in's Entra ID token or an Exchange identity
    token (R14)."""
    principal = await runtime.scheduling_auth.authenticate(runtime.uow, bearer_token(request))
    request.state.principal = principal
    return principal


SchedulerDep = Annotated[Principal, Depends(get_scheduler)]
IfMatch = Annotated[
    str | None,
    Header(description='The meeting\'s version as an ETag ("3"); refused with 412 if stale.'),
]


def _expected(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise InvalidInput('If-Match must be the meeting\'s ETag, e.g. "3"', field="If-Match")
    return int(tag)


def _out(runtime: Runtime, meeting: Meeting) -> MeetingOut:
    return MeetingOut.of(
        meeting,
        state=runtime.meetings.state_of(meeting),
        sip_domain=runtime.settings.meeting_sip_domain,
    )


def _respond(runtime: Runtime, meeting: Meeting, response: Response) -> MeetingOut:
    response.headers["ETag"] = f'"{meeting.version}"'
    return _out(runtime, meeting)


def _stale(exc: VersionMismatch) -> JSONResponse:
    return problem_response(
        412,
        exc.detail,
        slug="precondition-failed",
        headers={"ETag": f'"{exc.current}"'},
    )


# the scheduling API ------------------------------------------------------------------------
@router.post(
    "/v1/meetings",
    status_code=status.HTTP_201_CREATED,
    response_model=MeetingOut,
    tags=["meetings"],
    summary="Schedule a meeting (R11: subject, date, time, time zone, duration, recurrence)",
)
async def schedule_meeting(
    body: MeetingIn,
    principal: SchedulerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    response: Response,
) -> MeetingOut:
    meeting = await runtime.meetings.schedule(uow, principal, body.model_dump())
    await uow.commit()
    response.headers["Location"] = f"/v1/meetings/{meeting.id}"
    return _respond(runtime, meeting, response)


@router.get(
    "/v1/meetings",
    response_model=Page[MeetingOut],
    tags=["meetings"],
    summary="The caller's meetings, by start time",
)
async def list_meetings(
    principal: SchedulerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    state: StateFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[MeetingOut]:
    found = await runtime.meetings.list_own(uow, principal, state=state, after=after, limit=limit)
    return Page[MeetingOut](
        items=[_out(runtime, m) for m in found],
        next=encode_cursor(found[-1]) if len(found) == limit else None,
    )


@router.get(
    "/v1/meetings/{meeting_id}", response_model=MeetingOut, responses=NOT_FOUND, tags=["meetings"]
)
async def get_meeting(
    meeting_id: int, principal: SchedulerDep, runtime: RuntimeDep, uow: UowDep, response: Response
) -> MeetingOut:
    meeting = await runtime.meetings.get_own(uow, principal, meeting_id)
    return _respond(runtime, meeting, response)


@router.patch(
    "/v1/meetings/{meeting_id}",
    response_model=MeetingOut,
    responses=CHANGES,
    tags=["meetings"],
    summary="Change a meeting (the expiry follows the new time, R12)",
)
async def change_meeting(
    meeting_id: int,
    body: MeetingPatch,
    principal: SchedulerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    response: Response,
    if_match: IfMatch = None,
) -> MeetingOut | JSONResponse:
    try:
        meeting = await runtime.meetings.change(
            uow, principal, meeting_id, body.changes(), expected_version=_expected(if_match)
        )
    except VersionMismatch as exc:
        return _stale(exc)
    await uow.commit()
    return _respond(runtime, meeting, response)


@router.delete(
    "/v1/meetings/{meeting_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=CHANGES,
    tags=["meetings"],
    summary="Cancel a meeting (its join page says so; idempotent)",
)
async def cancel_meeting(
    meeting_id: int,
    principal: SchedulerDep,
    runtime: RuntimeDep,
    uow: UowDep,
    if_match: IfMatch = None,
) -> Response:
    try:
        await runtime.meetings.cancel_own(
            uow, principal, meeting_id, expected_version=_expected(if_match)
        )
    except VersionMismatch as exc:
        return _stale(exc)
    await uow.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# a user's linked add-in identities ---------------------------------------------------------
@router.get(
    "/v1/me/scheduling-identities",
    response_model=list[LinkedIdentityOut],
    tags=["meetings"],
    summary="Add-in identities (Entra ID, Exchange mailbox) linked to the signed-in user",
)
async def list_identities(
    principal: UserDep, runtime: RuntimeDep, uow: UowDep
) -> list[LinkedIdentityOut]:
    assert principal.account_id is not None
    assert principal.user_id is not None
    found = await runtime.scheduling_trust.identities(
        uow.session, principal.account_id, principal.user_id
    )
    return [LinkedIdentityOut.of(i) for i in found]


@router.post(
    "/v1/me/scheduling-identities",
    status_code=status.HTTP_201_CREATED,
    response_model=LinkedIdentityOut,
    tags=["meetings"],
    summary="Link the add-in identity in a token to the signed-in user",
)
async def link_identity(
    body: IdentityLinkIn, principal: UserDep, runtime: RuntimeDep, uow: UowDep
) -> LinkedIdentityOut:
    linked = await runtime.scheduling_auth.link(uow, principal, body.token)
    await uow.commit()
    return LinkedIdentityOut.of(linked)


@router.delete(
    "/v1/me/scheduling-identities/{identity_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["meetings"],
    summary="Unlink an add-in identity",
)
async def unlink_identity(
    identity_id: uuid.UUID, principal: UserDep, runtime: RuntimeDep, uow: UowDep
) -> None:
    assert principal.account_id is not None
    assert principal.user_id is not None
    await runtime.scheduling_trust.unlink(
        uow.session, principal.account_id, principal.user_id, identity_id
    )
    await uow.commit()


# account administration --------------------------------------------------------------------
@router.get(
    "/v1/accounts/{account_id}/scheduling-auth",
    response_model=SchedulingAuthOut,
    tags=["accounts"],
    summary="Which add-in tokens the account accepts (R14)",
)
async def get_scheduling_auth(
    account_id: uuid.UUID, principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep
) -> SchedulingAuthOut:
    return SchedulingAuthOut.of(await runtime.scheduling_trust.get(uow, principal, account_id))


@router.put(
    "/v1/accounts/{account_id}/scheduling-auth",
    response_model=SchedulingAuthOut,
    tags=["accounts"],
    summary="Set the Entra ID tenants and Exchange servers whose add-in tokens are accepted",
)
async def put_scheduling_auth(
    account_id: uuid.UUID,
    body: SchedulingAuthIn,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
) -> SchedulingAuthOut:
    config = await runtime.scheduling_trust.replace(
        uow,
        principal,
        account_id,
        entra=[(t.tenant_id, t.audiences) for t in body.entra_tenants],
        exchange=[(s.metadata_url, s.audiences) for s in body.exchange_servers],
    )
    await uow.commit()
    return SchedulingAuthOut.of(config)


@router.get(
    "/v1/accounts/{account_id}/meetings",
    response_model=Page[MeetingSummaryOut],
    tags=["accounts"],
    summary="The account's meetings (no topics, no passcodes)",
)
async def list_account_meetings(
    account_id: uuid.UUID,
    principal: PrincipalDep,
    runtime: RuntimeDep,
    uow: UowDep,
    user_id: uuid.UUID | None = None,
    state: StateFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[MeetingSummaryOut]:
    found = await runtime.meetings.list_for_admin(
        uow, principal, account_id, owner_id=user_id, state=state, after=after, limit=limit
    )
    return Page[MeetingSummaryOut](
        items=[MeetingSummaryOut.of(m, state=runtime.meetings.state_of(m)) for m in found],
        next=encode_cursor(found[-1]) if len(found) == limit else None,
    )
