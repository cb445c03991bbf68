"""The on-premises Exchange emulator (identity-token part): the authentication metadata
document under ``/exchange/autodiscover/metadata/json/1`` and, under
``/_sandbox/exchange``, control routes to add mailboxes, mint the identity token an Outlook
add-in would get for a mailbox, and renew the signing certificate."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from calgate.sandbox.core import FaultMiddleware, SandboxCore
from calgate.sandbox.exchange.identity import (
    IDENTITY_LIFETIME,
    METADATA_PATH,
    ExchangeSigner,
    Mailbox,
    identity_claims,
    metadata_document,
)

__all__ = ["SANDBOX_ADDIN_URL", "ExchangeEmulator"]

SANDBOX_ADDIN_URL = "https://addin.calgate.example/taskpane.html"
DOMAIN = "fabrikam.example"


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MailboxIn(_In):
    smtp: str = Field(min_length=3, max_length=320)
    display_name: str = ""
    msexchuid: str | None = None


class IdentityTokenIn(_In):
    mailbox: str = Field(description="SMTP address or msexchuid")
    audience: str = Field(default=SANDBOX_ADDIN_URL, description="the add-in page URL (aud)")
    lifetime_seconds: int | None = Field(default=None, ge=1, le=7 * 86_400)


def _error_body(status: int) -> dict[str, Any]:
    return {"error": {"code": status, "message": "The Exchange server is not available."}}


class ExchangeEmulator:
    name = "exchange"

    def __init__(
        self, core: SandboxCore, *, seed: bool = True, signer: ExchangeSigner | None = None
    ) -> None:
        self.core = core
        self.realm = f"mail.{DOMAIN}"
        self.signer = signer or ExchangeSigner(now=core.clock.now())
        self.document_id = f"_{uuid.uuid4()}"
        self.mailboxes: dict[str, Mailbox] = {}
        if seed:
            for smtp, name in ((f"dave@{DOMAIN}", "Dave Dunn"), (f"erin@{DOMAIN}", "Erin Eze")):
                self.add_mailbox(Mailbox(smtp, name))

    def add_mailbox(self, mailbox: Mailbox) -> Mailbox:
        key = mailbox.smtp.lower()
        if key in self.mailboxes:
            raise ValueError(f"mailbox {mailbox.smtp!r} exists")
        self.mailboxes[key] = mailbox
        return mailbox

    def mailbox(self, ref: str) -> Mailbox | None:
        found = self.mailboxes.get(ref.lower())
        if found is not None:
            return found
        return next((m for m in self.mailboxes.values() if m.msexchuid == ref), None)

    @staticmethod
    def metadata_url(base_url: str) -> str:
        return f"{base_url.rstrip('/')}/exchange{METADATA_PATH}"

    # Emulator protocol ----------------------------------------------------------------------
    def asgi_app(self) -> ASGIApp:
        async def metadata(request: StarletteRequest) -> Response:
            self.core.count(self.name, "metadata")
            base = str(request.base_url).rstrip("/")
            return JSONResponse(
                metadata_document(self.signer, self.metadata_url(base), self.document_id)
            )

        app = Starlette(routes=[Route(METADATA_PATH, metadata)])
        return FaultMiddleware(app, core=self.core, provider=self.name, error_body=_error_body)

    def control_router(self) -> APIRouter:
        router = APIRouter(tags=["sandbox: exchange"])

        @router.get("/state")
        async def state(request: Request) -> dict[str, Any]:
            return self.describe(str(request.base_url).rstrip("/"))

        @router.post("/mailboxes", status_code=201)
        async def add_mailbox(body: MailboxIn) -> dict[str, Any]:
            mailbox = Mailbox(body.smtp, body.display_name or body.smtp)
            if body.msexchuid:
                mailbox.msexchuid = body.msexchuid
            try:
                self.add_mailbox(mailbox)
            except ValueError as exc:
                raise HTTPException(409, str(exc)) from None
            return _mailbox_json(mailbox)

        @router.post("/identity-token")
        async def identity_token(body: IdentityTokenIn, request: Request) -> dict[str, Any]:
            """The token ``Office.context.mailbox.getUserIdentityTokenAsync`` returns."""
            mailbox = self.mailbox(body.mailbox)
            if mailbox is None:
                raise HTTPException(404, f"no mailbox {body.mailbox!r}")
            amurl = self.metadata_url(str(request.base_url))
            lifetime = (
                timedelta(seconds=body.lifetime_seconds)
                if body.lifetime_seconds
                else IDENTITY_LIFETIME
            )
            claims = identity_claims(
                mailbox=mailbox,
                realm=self.realm,
                audience=body.audience,
                amurl=amurl,
                now=self.core.clock.now(),
                lifetime=lifetime,
            )
            self.core.count(self.name, "identity_token")
            return {
                "token": self.signer.sign(claims),
                "msexchuid": mailbox.msexchuid,
                "amurl": amurl,
            }

        @router.post("/certificate/renew")
        async def renew() -> dict[str, str]:
            return {"x5t": self.signer.renew(self.core.clock.now())}

        return router

    def describe(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": f"{base_url.rstrip('/')}/exchange",
            "metadata_url": self.metadata_url(base_url),
            "addin_url": SANDBOX_ADDIN_URL,
            "realm": self.realm,
            "users": [_mailbox_json(m) for m in self.mailboxes.values()],
        }


def _mailbox_json(mailbox: Mailbox) -> dict[str, Any]:
    return {
        "email": mailbox.smtp,
        "display_name": mailbox.display_name,
        "msexchuid": mailbox.msexchuid,
    }
