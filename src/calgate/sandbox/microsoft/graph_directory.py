"""Graph v1.0 ``/me``, ``/users/{id | upn}`` and ``/contacts`` (provider-protocols §2, §1.6)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from calgate.sandbox.microsoft.calendar import graph_timestamp
from calgate.sandbox.microsoft.errors import GraphError
from calgate.sandbox.microsoft.graph_http import Deps, GraphContext, graph_endpoint, paged
from calgate.sandbox.microsoft.state import User, new_change_key, new_item_id

__all__ = ["contact_json", "directory_routes", "user_json"]

_USER_SCOPES = {"User.Read", "User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All"}
_CONTACT_FIELDS = {
    "displayName",
    "givenName",
    "surname",
    "emailAddresses",
    "businessPhones",
    "mobilePhone",
    "homePhones",
    "companyName",
    "jobTitle",
    "department",
    "officeLocation",
    "personalNotes",
    "categories",
    "nickName",
}


def user_json(user: User) -> dict[str, Any]:
    first, _, last = user.display_name.partition(" ")
    return {
        "businessPhones": [],
        "displayName": user.display_name,
        "givenName": None if user.is_room else first,
        "jobTitle": None,
        "mail": user.upn,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": "en-US",
        "surname": None if user.is_room else (last or None),
        "userPrincipalName": user.upn,
        "id": user.id,
    }


def contact_json(contact: dict[str, Any]) -> dict[str, Any]:
    body = {"@odata.etag": f'W/"{contact["changeKey"]}"'}
    body.update(copy.deepcopy(contact))
    return body


def directory_routes(deps: Deps) -> list[Route]:
    state, clock = deps.state, deps.core.clock

    async def get_user(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.users.get")
        ref = ctx.request.path_params.get("user")
        if ref is None:
            if ctx.caller is None:
                raise GraphError.bad_request(
                    "/me request is only valid with delegated authentication flow.", "BadRequest"
                )
            user: User | None = ctx.caller
        else:
            user = state.user(ref)
            if user is None or user.tenant_id != ctx.tenant_id:
                raise GraphError(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{ref}' does not "
                    "exist or one of its queried reference-property objects are "
                    "not present.",
                )
        assert user is not None
        own = ctx.caller is not None and ctx.caller.id == user.id
        needed = _USER_SCOPES if own else _USER_SCOPES - {"User.Read"}
        if not needed & ctx.scopes:
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        body = {"@odata.context": f"{ctx.graph_base}/$metadata#users/$entity"}
        body.update(user_json(user))
        return ctx.respond(body)

    def contact_owner(ctx: GraphContext, write: bool = False) -> User:
        return ctx.mailbox(ctx.request.path_params.get("user"), "Contacts", write=write)

    def find(user: User, ctx: GraphContext) -> dict[str, Any]:
        contact = user.contacts.get(ctx.request.path_params["contact_id"])
        if contact is None:
            raise GraphError.not_found()
        return contact

    def validated(body: dict[str, Any]) -> dict[str, Any]:
        data = {k: copy.deepcopy(v) for k, v in body.items() if k in _CONTACT_FIELDS}
        for item in data.get("emailAddresses") or []:
            if not isinstance(item, dict) or "address" not in item:
                raise GraphError.bad_request("Each emailAddress needs an address.")
        return data

    async def list_contacts(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.contacts.list")
        user = contact_owner(ctx)
        items = [
            contact_json(c)
            for c in sorted(user.contacts.values(), key=lambda c: str(c.get("displayName")))
        ]
        return paged(ctx, items, f"users('{user.id}')/contacts")

    async def create_contact(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.contacts.create")
        user = contact_owner(ctx, write=True)
        contact = add_contact(deps, user, validated(await ctx.json()))
        return ctx.respond(contact_json(contact), 201)

    async def get_contact(ctx: GraphContext) -> Response:
        user = contact_owner(ctx)
        return ctx.respond(contact_json(find(user, ctx)))

    async def update_contact(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.contacts.update")
        user = contact_owner(ctx, write=True)
        contact = find(user, ctx)
        contact.update(validated(await ctx.json()))
        contact.update(
            changeKey=new_change_key(), lastModifiedDateTime=graph_timestamp(clock.now())
        )
        deps.notifier.resource_changed(
            user, "contacts", contact["id"], f'W/"{contact["changeKey"]}"', "updated"
        )
        return ctx.respond(contact_json(contact))

    async def delete_contact(ctx: GraphContext) -> Response:
        deps.core.count("microsoft", "graph.contacts.delete")
        user = contact_owner(ctx, write=True)
        contact = find(user, ctx)
        del user.contacts[contact["id"]]
        deps.notifier.resource_changed(
            user, "contacts", contact["id"], f'W/"{contact["changeKey"]}"', "deleted"
        )
        return ctx.respond(None, 204)

    def ep(handler: Any) -> Any:
        return graph_endpoint(deps, handler)

    routes = [
        Route("/me", ep(get_user), methods=["GET"]),
        Route("/users/{user}", ep(get_user), methods=["GET"]),
    ]
    for owner in ("/me", "/users/{user}"):
        routes += [
            Route(f"{owner}/contacts", ep(list_contacts), methods=["GET"]),
            Route(f"{owner}/contacts", ep(create_contact), methods=["POST"]),
            Route(f"{owner}/contacts/{{contact_id}}", ep(get_contact), methods=["GET"]),
            Route(f"{owner}/contacts/{{contact_id}}", ep(update_contact), methods=["PATCH"]),
            Route(f"{owner}/contacts/{{contact_id}}", ep(delete_contact), methods=["DELETE"]),
        ]
    return routes


def add_contact(deps: Deps, user: User, data: dict[str, Any]) -> dict[str, Any]:
    now = graph_timestamp(deps.core.clock.now())
    contact: dict[str, Any] = {
        "id": new_item_id("AAMkADc"),
        "createdDateTime": now,
        "lastModifiedDateTime": now,
        "changeKey": new_change_key(),
        "categories": [],
        "parentFolderId": f"{user.calendar_id}-contacts",
        "displayName": "",
        "givenName": None,
        "surname": None,
        "emailAddresses": [],
        "businessPhones": [],
        "mobilePhone": None,
        "companyName": None,
        "jobTitle": None,
    }
    contact.update(data)
    user.contacts[contact["id"]] = contact
    deps.notifier.resource_changed(
        user, "contacts", contact["id"], f'W/"{contact["changeKey"]}"', "created"
    )
    return contact
