"""Operator routes for the vault's keys and stored credentials (R2, R3).

Rotation, rewrap and bulk credential purge touch key material or destroy credentials, so
they need the operator key **and** a single-use TOTP code in ``X-Calgate-OTP``. Status
shows ids and counts only and needs the operator key alone.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field, model_validator

from calgate.api.deps import PrincipalDep, RuntimeDep, UowDep
from calgate.domain.principal import Principal
from calgate.errors import InvalidInput, NotFound
from calgate.security.totp import OTP_HEADER
from calgate.services.tenancy import require_operator

__all__ = ["router"]

router = APIRouter(prefix="/v1/operator", tags=["operator"])

SECOND_FACTOR: dict[int | str, dict[str, Any]] = {
    401: {"description": "operator key or one-time code missing, wrong or already used"},
    403: {"description": "not the operator, or no second factor configured"},
}


async def operator_with_otp(
    principal: PrincipalDep,
    runtime: RuntimeDep,
    otp: Annotated[
        str | None,
        Header(
            alias=OTP_HEADER,
            description="Current TOTP code of the operator's authenticator (single use).",
        ),
    ] = None,
) -> Principal:
    require_operator(principal)
    await runtime.second_factor.verify(runtime.uow, otp)
    return principal


OperatorOtpDep = Annotated[Principal, Depends(operator_with_otp)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RotateIn(Strict):
    kek: bool = Field(
        default=False,
        description="Start a new master key (key file only; an environment key is rotated "
        "by the deployment).",
    )
    data_keys: bool = Field(default=True, description="Start a new data key per account.")
    account_id: uuid.UUID | None = Field(
        default=None, description="Rotate only this account's data key."
    )


class RotateOut(BaseModel):
    kek_id: str
    kek_rotated: bool
    data_keys_rotated: int


class RewrapIn(Strict):
    batch_size: int = Field(default=1000, ge=1, le=10_000)


class RewrapOut(BaseModel):
    data_keys_rewrapped: int
    secrets_rewrapped: int
    unreadable: int
    batches: int
    complete: bool


class PurgeIn(Strict):
    account_id: uuid.UUID | None = Field(
        default=None, description="Purge this account's stored credentials."
    )
    all_accounts: bool = Field(
        default=False, description="Purge the stored credentials of every account."
    )

    @model_validator(mode="after")
    def _one_scope(self) -> PurgeIn:
        if (self.account_id is not None) != self.all_accounts:
            return self
        raise ValueError("give exactly one of account_id and all_accounts=true")


class PurgeOut(BaseModel):
    secrets_deleted: int
    data_keys_destroyed: int


class VersionOut(BaseModel):
    version: int
    data_keys: int
    current_data_keys: int
    secrets: int
    encryptions: int
    max_encryptions_on_one_key: int


class StatusOut(BaseModel):
    kek_id: str = Field(description="Id of the current master key (a fingerprint).")
    known_kek_ids: list[str]
    data_keys_per_kek: dict[str, int]
    kek_rotatable: bool
    versions: list[VersionOut]
    secrets: int
    secrets_on_retired_keys: int
    secrets_without_key: int
    warnings: list[str]
    second_factor_configured: bool


@router.get("/keys/status", response_model=StatusOut, summary="Vault keys in use (operator)")
async def key_status(principal: PrincipalDep, runtime: RuntimeDep, uow: UowDep) -> StatusOut:
    require_operator(principal)
    status = await runtime.vault.status(uow)
    return StatusOut(
        kek_id=status.kek_id,
        known_kek_ids=list(status.known_kek_ids),
        data_keys_per_kek=status.keks_in_use,
        kek_rotatable=status.kek_rotatable,
        versions=[
            VersionOut(
                version=v.version,
                data_keys=v.data_keys,
                current_data_keys=v.current,
                secrets=v.secrets,
                encryptions=v.encryptions,
                max_encryptions_on_one_key=v.max_encryptions,
            )
            for v in status.versions
        ],
        secrets=status.secrets,
        secrets_on_retired_keys=status.secrets_on_retired_keys,
        secrets_without_key=status.secrets_without_key,
        warnings=status.warnings,
        second_factor_configured=runtime.second_factor.configured,
    )


@router.post(
    "/keys/rotate",
    response_model=RotateOut,
    responses=SECOND_FACTOR,
    summary="Start new key versions (operator + TOTP)",
)
async def rotate_keys(
    body: RotateIn, principal: OperatorOtpDep, runtime: RuntimeDep, uow: UowDep
) -> RotateOut:
    if not (body.kek or body.data_keys):
        raise InvalidInput("nothing to rotate: set kek and/or data_keys", field="data_keys")
    if body.account_id is not None and await uow.accounts.get(body.account_id) is None:
        raise NotFound(f"account {body.account_id} not found")
    result = await runtime.vault.rotate(
        uow, actor=principal, kek=body.kek, data_keys=body.data_keys, account_id=body.account_id
    )
    await uow.commit()
    return RotateOut(
        kek_id=result.kek_id,
        kek_rotated=result.kek_rotated,
        data_keys_rotated=result.data_keys_rotated,
    )


@router.post(
    "/keys/rewrap",
    response_model=RewrapOut,
    responses=SECOND_FACTOR,
    summary="Re-encrypt everything to the current keys, online (operator + TOTP)",
)
async def rewrap_keys(body: RewrapIn, principal: OperatorOtpDep, runtime: RuntimeDep) -> RewrapOut:
    result = await runtime.vault.rewrap(runtime.uow, actor=principal, batch_size=body.batch_size)
    return RewrapOut(
        data_keys_rewrapped=result.data_keys_rewrapped,
        secrets_rewrapped=result.secrets_rewrapped,
        unreadable=result.unreadable,
        batches=result.batches,
        complete=result.complete,
    )


@router.post(
    "/credentials/purge",
    response_model=PurgeOut,
    responses={**SECOND_FACTOR, 404: {"description": "no such account"}},
    summary="Delete stored credentials and destroy their data keys (operator + TOTP)",
)
async def purge_credentials(
    body: PurgeIn, principal: OperatorOtpDep, runtime: RuntimeDep, uow: UowDep
) -> PurgeOut:
    if body.account_id is not None and await uow.accounts.get(body.account_id) is None:
        raise NotFound(f"account {body.account_id} not found")
    result = await runtime.vault.purge(uow, actor=principal, account_id=body.account_id)
    await uow.commit()
    return PurgeOut(
        secrets_deleted=result.secrets_deleted, data_keys_destroyed=result.data_keys_destroyed
    )
