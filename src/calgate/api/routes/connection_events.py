"""Writing events through calgate for tools that cannot call the provider themselves. Every
route passes the write guard (R7): a policy without write access is refused with a problem
naming the policy before any provider is asked."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Header, status

from calgate.api.deps import RuntimeDep, UserDep
from calgate.api.routes.connection_schemas import EventIn, EventOut, decode_event_id
from calgate.domain.calendar import Event, ItemRef
from calgate.errors import InvalidInput

__all__ = ["router"]

router = APIRouter(prefix="/v1/me/connections/{connection_id}/events", tags=["connections"])
RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "the policy (named in `policy`) or the grant does not allow writes"},
    404: {"description": "no such connection or event"},
    409: {"description": "etag mismatch, or the grant is dead (`reauth_url`)"},
}


def _event(body: EventIn) -> Event:
    try:
        return body.event()
    except ValueError as exc:
        raise InvalidInput(str(exc), field="start") from None


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EventOut,
    responses=RESPONSES,
    summary="Create an event in the connection's primary calendar",
)
async def create_event(
    connection_id: uuid.UUID, body: EventIn, principal: UserDep, runtime: RuntimeDep
) -> EventOut:
    stored = await runtime.connections.writes.create(principal, connection_id, _event(body))
    return EventOut.of(stored)


@router.put(
    "/{event_id}",
    response_model=EventOut,
    responses=RESPONSES,
    summary="Replace an event (If-Match: its etag)",
)
async def replace_event(
    connection_id: uuid.UUID,
    event_id: str,
    body: EventIn,
    principal: UserDep,
    runtime: RuntimeDep,
    if_match: str | None = Header(default=None),
) -> EventOut:
    ref = ItemRef(decode_event_id(event_id), if_match or "")
    stored = await runtime.connections.writes.update(principal, connection_id, ref, _event(body))
    return EventOut.of(stored)


@router.delete(
    "/{event_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=RESPONSES,
    summary="Delete an event (If-Match: its etag)",
)
async def delete_event(
    connection_id: uuid.UUID,
    event_id: str,
    principal: UserDep,
    runtime: RuntimeDep,
    if_match: str | None = Header(default=None),
) -> None:
    ref = ItemRef(decode_event_id(event_id), if_match or "")
    await runtime.connections.writes.delete(principal, connection_id, ref)
