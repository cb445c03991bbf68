"""The operator's second factor (R3): a TOTP code (RFC 6238, 30-second steps, 6 digits) in
the ``X-Calgate-OTP`` header, required together with the operator key by the actions that
touch key material (key rotation, rewrap, bulk credential purge).

A code is accepted for the current step and one step either side (clock drift), and only
once: the last accepted step is kept in the database (``operator_otp_state``) and moved
forward with a compare-and-swap, so a replayed code is refused by every calgate process.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyotp
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from calgate.clock import Clock
from calgate.errors import Forbidden, SecondFactorRequired
from calgate.persistence.tables import OperatorOtpRow

if TYPE_CHECKING:
    from calgate.persistence.uow import UnitOfWorkFactory
    from calgate.settings import Settings

__all__ = [
    "OTP_HEADER",
    "OperatorSecondFactor",
    "ResolvedTotp",
    "check_totp_secret",
    "resolve_totp_secret",
]

OTP_HEADER = "X-Calgate-OTP"
STEP_SECONDS = 30
_CODE = re.compile(r"^[0-9]{6}$")
_NAME = "operator"


def _decode(secret: str) -> bytes:
    cleaned = secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def check_totp_secret(secret: str) -> None:
    """`ValueError` unless ``secret`` is base32 of at least 16 bytes (128 bits)."""
    try:
        raw = _decode(secret)
    except (binascii.Error, ValueError):
        raise ValueError("must be base32 (A-Z, 2-7), e.g. from pyotp.random_base32()") from None
    if len(raw) < 16:
        raise ValueError(f"must be base32 of at least 16 bytes (got {len(raw)})")


@dataclass(frozen=True, slots=True, repr=False)
class ResolvedTotp:
    secret: str | None
    path: Path | None
    generated: bool

    def __repr__(self) -> str:
        return f"ResolvedTotp(configured={self.secret is not None}, path={self.path})"


def resolve_totp_secret(settings: Settings) -> ResolvedTotp:
    """From ``CALGATE_OPERATOR_TOTP_SECRET``; in development from (or generated into)
    ``<data_dir>/operator-totp.secret``; in production without it, second-factor actions
    are refused."""
    if settings.operator_totp_secret is not None:
        return ResolvedTotp(settings.operator_totp_secret.get_secret_value(), None, False)
    if settings.is_production:
        return ResolvedTotp(None, None, False)
    path = settings.data_dir / "operator-totp.secret"
    if path.exists():
        value = path.read_text().strip()
        check_totp_secret(value)
        return ResolvedTotp(value, path, False)
    path.parent.mkdir(parents=True, exist_ok=True)
    value = pyotp.random_base32()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return ResolvedTotp(path.read_text().strip(), path, False)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return ResolvedTotp(value, path, True)


class OperatorSecondFactor:
    def __init__(self, secret: str | None, clock: Clock, *, path: Path | None = None) -> None:
        self._totp = pyotp.TOTP(secret, interval=STEP_SECONDS) if secret else None
        self._clock = clock
        self.path = path

    def __repr__(self) -> str:
        return f"OperatorSecondFactor(configured={self.configured})"

    @property
    def configured(self) -> bool:
        return self._totp is not None

    def _step(self, at: datetime) -> int:
        return int(at.timestamp()) // STEP_SECONDS

    def code_at(self, at: datetime) -> str:
        """The code valid at ``at`` (tests and tooling; never logged)."""
        if self._totp is None:
            raise Forbidden("no operator TOTP secret is configured")
        return str(self._totp.generate_otp(self._step(at)))

    def _matching_step(self, code: str) -> int | None:
        assert self._totp is not None
        now = self._step(self._clock.now())
        for step in (now, now - 1, now + 1):
            if hmac.compare_digest(str(self._totp.generate_otp(step)), code):
                return step
        return None

    async def verify(self, uows: UnitOfWorkFactory, code: str | None) -> None:
        """Accept ``code`` once, or raise. Consumes the code in its own transaction, so it
        stays used even if the action it authorised then fails."""
        if self._totp is None:
            raise Forbidden(
                "this operator action needs a second factor, and none is configured: set "
                "CALGATE_OPERATOR_TOTP_SECRET (base32) and enrol it in an authenticator"
            )
        if not code:
            raise SecondFactorRequired(
                f"this operator action needs a one-time code from the operator's "
                f"authenticator in the {OTP_HEADER} header"
            )
        code = code.strip()
        step = self._matching_step(code) if _CODE.match(code) else None
        if step is None:
            raise SecondFactorRequired(f"the {OTP_HEADER} one-time code is wrong or expired")
        if not await self._consume(uows, step):
            raise SecondFactorRequired(
                f"this {OTP_HEADER} one-time code was already used; wait for the next one"
            )

    async def _consume(self, uows: UnitOfWorkFactory, step: int) -> bool:
        now = self._clock.now()
        async with uows() as uow:
            session = uow.session
            result = await session.execute(
                update(OperatorOtpRow)
                .where(OperatorOtpRow.name == _NAME, OperatorOtpRow.last_step < step)
                .values(last_step=step, used_at=now)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                await uow.commit()
                return True
            exists = await session.scalar(
                select(OperatorOtpRow.name).where(OperatorOtpRow.name == _NAME)
            )
            if exists is not None:
                return False
            try:
                async with session.begin_nested():
                    session.add(OperatorOtpRow(name=_NAME, last_step=step, used_at=now))
            except IntegrityError:
                return False  # a concurrent request took the first code
            await uow.commit()
            return True
