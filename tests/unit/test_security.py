"""Credentials calgate issues or checks itself: passwords, API keys, session tokens, derived
keys."""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from calgate.clock import FrozenClock
from calgate.errors import Unauthenticated
from calgate.security import apikeys
from calgate.security.keys import ServerKeys, derive
from calgate.security.passwords import hash_password, verify_password
from calgate.security.sessions import SessionSigner

from support.canary import canary

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


# passwords ------------------------------------------------------------------------------
def test_password_hash_verifies_only_the_right_password() -> None:
    password = canary("password")
    encoded = hash_password(password)

    assert verify_password(password, encoded)
    assert not verify_password(password + "x", encoded)
    assert not verify_password("", encoded)
    assert password not in encoded


def test_password_hash_is_salted_scrypt_with_its_parameters() -> None:
    a, b = hash_password("same password"), hash_password("same password")

    assert a != b  # random salt
    scheme, n, r, p, salt, digest = a.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert len(base64.urlsafe_b64decode(digest + "==")) == 32


def test_unknown_user_password_check_fails_but_does_the_work() -> None:
    # No stored hash (unknown user): never true, whatever the password — the dummy hash is
    # verified instead so that the response time does not tell registered emails apart.
    assert not verify_password("anything", None)
    assert not verify_password("", None)


@pytest.mark.parametrize(
    "encoded",
    ["", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$!!"],
)
def test_malformed_password_hashes_never_verify(encoded: str) -> None:
    assert not verify_password("password", encoded)


# API keys -------------------------------------------------------------------------------
def test_api_key_format_and_digest() -> None:
    key, digest, hint = apikeys.generate()

    assert re.fullmatch(r"cgak_[A-Za-z0-9_-]{43}", key)  # 256 random bits, URL-safe
    assert apikeys.looks_like_api_key(key)
    assert digest == apikeys.digest(key)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hint == key[-4:]
    assert key not in digest
    assert apikeys.generate()[0] != key


def test_other_tokens_do_not_look_like_api_keys() -> None:
    assert not apikeys.looks_like_api_key("eyJhbGciOiJIUzI1NiJ9.e30.x")
    assert not apikeys.looks_like_api_key(canary("operator-key"))


# session tokens -------------------------------------------------------------------------
@pytest.fixture
def signer() -> SessionSigner:
    return SessionSigner(derive(b"k" * 32, "session-token"), timedelta(minutes=15))


def test_session_token_round_trip(signer: SessionSigner) -> None:
    user, account = uuid.uuid4(), uuid.uuid4()
    token, expires = signer.issue(user_id=user, account_id=account, now=T0)

    claims = signer.verify(token, now=T0 + timedelta(minutes=14))

    assert expires == T0 + timedelta(minutes=15)
    assert (claims.user_id, claims.account_id, claims.expires_at) == (user, account, expires)
    assert claims.session_id


def test_session_token_expires_with_the_clock(signer: SessionSigner) -> None:
    clock = FrozenClock(T0)
    token, _ = signer.issue(user_id=uuid.uuid4(), account_id=uuid.uuid4(), now=clock.now())

    signer.verify(token, now=clock.advance(minutes=14, seconds=59))
    clock.advance(seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token, now=clock.now())


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return loaded


def test_tampered_session_token_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue(user_id=uuid.uuid4(), account_id=uuid.uuid4(), now=T0)
    header, payload, signature = token.split(".")
    claims = _unb64(payload)
    claims["acc"] = str(uuid.uuid4())  # move the session into another tenant
    forged = f"{header}.{_b64(claims)}.{signature}"

    with pytest.raises(Unauthenticated, match="signature"):
        signer.verify(forged, now=T0)


def test_alg_none_session_token_is_refused(signer: SessionSigner) -> None:
    token, _ = signer.issue(user_id=uuid.uuid4(), account_id=uuid.uuid4(), now=T0)
    _, payload, _ = token.split(".")

    with pytest.raises(Unauthenticated):
        signer.verify(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.", now=T0)


def test_session_token_from_another_key_is_refused(signer: SessionSigner) -> None:
    other = SessionSigner(derive(b"o" * 32, "session-token"), timedelta(minutes=15))
    token, _ = other.issue(user_id=uuid.uuid4(), account_id=uuid.uuid4(), now=T0)

    with pytest.raises(Unauthenticated, match="signature"):
        signer.verify(token, now=T0)


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "cgak_notakey"])
def test_malformed_session_tokens_are_refused(signer: SessionSigner, token: str) -> None:
    with pytest.raises(Unauthenticated):
        signer.verify(token, now=T0)


# derived keys ---------------------------------------------------------------------------
def test_server_keys_differ_per_purpose_and_hide_in_repr() -> None:
    secret = canary("server-secret")
    keys = ServerKeys.from_secret(secret)

    assert len({keys.session, keys.audit, keys.state}) == 3
    assert all(len(k) == 32 for k in (keys.session, keys.audit, keys.state))
    assert keys == ServerKeys.from_secret(secret)  # deterministic: every process agrees
    assert keys != ServerKeys.from_secret(canary("server-secret"))
    assert "cgcanary" not in repr(keys)
    assert repr(keys) == "ServerKeys(<redacted>)"
