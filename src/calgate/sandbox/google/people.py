"""A minimal People API: ``GET /people/v1/people/me/connections`` (personFields, pageSize,
pageToken) with the contacts scope enforced (provider-protocols §5.4 error shapes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from calgate.sandbox.google.errors import ApiError
from calgate.sandbox.google.principal import Principal, authenticate
from calgate.sandbox.google.scopes import CONTACTS_READ

__all__ = ["router"]

router = APIRouter(prefix="/people/v1")
_FIELDS = {"names", "emailAddresses", "metadata"}


@router.get("/people/me/connections")
async def connections(
    request: Request, caller: Annotated[Principal, Depends(authenticate)]
) -> dict[str, Any]:
    caller.require(CONTACTS_READ, "google.people.v1.PeopleService.ListConnections", "people")
    caller.context.count("people.connections")
    q = request.query_params
    fields = {f.strip() for f in q.get("personFields", "").split(",") if f.strip()}
    if not fields:
        raise ApiError(
            400,
            "badRequest",
            "personFields mask is required. Please specify one or more valid paths. Valid "
            "paths are documented at https://developers.google.com/people/api/rest/v1/people/get.",
        )
    try:
        size = min(int(q.get("pageSize", "100")), 1000)
        offset = int(q.get("pageToken") or 0)
    except ValueError as exc:
        raise ApiError(400, "badRequest", "Invalid pageSize or pageToken.") from exc
    if size < 1 or offset < 0:
        raise ApiError(400, "badRequest", "Invalid pageSize or pageToken.")
    everyone = caller.context.state.contacts.get(caller.user or "", [])
    page = everyone[offset : offset + size]
    people = []
    for c in page:
        person: dict[str, Any] = {"resourceName": c.resource_name, "etag": c.etag}
        if "names" in fields:
            given, _, family = c.display_name.partition(" ")
            person["names"] = [
                {
                    "metadata": {"primary": True, "source": {"type": "CONTACT"}},
                    "displayName": c.display_name,
                    "givenName": given,
                    "familyName": family,
                }
            ]
        if "emailAddresses" in fields:
            person["emailAddresses"] = [
                {"metadata": {"primary": True, "source": {"type": "CONTACT"}}, "value": c.email}
            ]
        people.append(person)
    body: dict[str, Any] = {
        "connections": people,
        "totalPeople": len(everyone),
        "totalItems": len(everyone),
    }
    if offset + size < len(everyone):
        body["nextPageToken"] = str(offset + size)
    return body
