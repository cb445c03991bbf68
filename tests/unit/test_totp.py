"""The operator's TOTP secret: validation and development generation."""

from __future__ import annotations

import stat

import pyotp
import pytest

from calgate.security.totp import check_totp_secret, resolve_totp_secret


def test_totp_secret_must_be_base32_of_16_bytes():
    check_totp_secret(pyotp.random_base32())
    with pytest.raises(ValueError, match="at least 16 bytes"):
        check_totp_secret("JBSWY3DPEHPK3PXP")  # 10 bytes
    with pytest.raises(ValueError, match="base32"):
        check_totp_secret("not base32 at all!")


def test_totp_secret_is_generated_privately_in_development_only(make_settings):
    settings = make_settings()
    first = resolve_totp_secret(settings)
    assert first.generated
    assert first.path is not None
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    again = resolve_totp_secret(settings)
    assert not again.generated
    assert again.secret == first.secret
    assert first.secret not in repr(first)
    configured = resolve_totp_secret(make_settings(operator_totp_secret=first.secret))
    assert configured.path is None
    assert configured.secret == first.secret
    prod = resolve_totp_secret(
        make_settings(env="production", auth_mode="local", master_key="A" * 43 + "=")
    )
    assert prod.secret is None
    assert prod.path is None
