"""Signing in (POST /v1/sessions) and who am I (GET /v1/me)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from calgate.api.deps import RuntimeDep, UowDep, UserDep
from calgate.api.routes.schemas import UserOut
from calgate.errors import InvalidInput, NotFound
from calgate.settings import AuthMode

__all__ = ["router"]

router = APIRouter(tags=["sessions"])


class SessionIn(BaseModel):
    """Local sign-in sends `email` and `password`; OIDC sign-in sends `id_token`."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=256)
    id_token: str | None = Field(default=None, max_length=16_384)
    account_id: uuid.UUID | None = Field(
        default=None, description="Needed only when the identity exists in several accounts."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SessionIn:
        if self.id_token is None and (self.email is None or self.password is None):
            raise ValueError("send either id_token, or email and password")
        return self


class SessionOut(BaseModel):
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    token_type: str = "Bearer"  # noqa: S105 - the scheme name
    expires_at: datetime
    user: UserOut


@router.post(
    "/v1/sessions",
    status_code=status.HTTP_201_CREATED,
    response_model=SessionOut,
    summary="Sign in and get a short-lived session token",
)
async def create_session(body: SessionIn, runtime: RuntimeDep, uow: UowDep) -> SessionOut:
    mode = runtime.settings.effective_auth_mode
    if mode is AuthMode.OIDC:
        if body.id_token is None:
            raise InvalidInput("this server signs users in with an OIDC ID token", field="id_token")
        issued = await runtime.auth.sign_in_oidc(
            uow, id_token=body.id_token, account_id=body.account_id
        )
    else:
        if body.email is None or body.password is None:
            raise InvalidInput("this server signs users in with email and password", field="email")
        issued = await runtime.auth.sign_in_local(
            uow, email=body.email, password=body.password, account_id=body.account_id
        )
    return SessionOut(
        token=issued.token, expires_at=issued.expires_at, user=UserOut.of(issued.user)
    )


@router.get("/v1/me", response_model=UserOut, summary="The signed-in user")
async def me(principal: UserDep, uow: UowDep) -> UserOut:
    assert principal.account_id is not None
    assert principal.user_id is not None
    user = await uow.users.get(principal.account_id, principal.user_id)
    if user is None:
        raise NotFound("your user no longer exists")
    return UserOut.of(user)
