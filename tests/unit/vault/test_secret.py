"""The Secret type never shows its value by accident."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from pydantic import BaseModel

from calgate.vault import Secret
from calgate.vault.base import MASK

from support.canary import canary


def test_secret_is_redacted_everywhere_but_reveal_R2(caplog):
    value = canary("refresh-token")
    secret = Secret(value)
    assert secret.reveal() == value
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>20}",
        f"{secret}",
    ):
        assert value not in shown
        assert MASK in shown
    assert value not in repr([secret, {"k": secret}])
    assert json.dumps({"token": secret}, default=str) == json.dumps({"token": MASK})
    with pytest.raises(TypeError):
        json.dumps(secret)  # no accidental JSON encoding of the value
    logging.getLogger("calgate.test").warning("token is %s / %r", secret, secret)
    assert value not in caplog.text


def test_secret_in_pydantic_models_dumps_the_mask_R2():
    class Model(BaseModel):
        token: Secret

    value = canary("client-secret")
    model = Model(token=value)
    assert isinstance(model.token, Secret)
    assert model.token.reveal() == value
    assert value not in model.model_dump_json()
    assert MASK in model.model_dump_json()
    assert model.model_dump(mode="json") == {"token": MASK}
    assert value not in repr(model)
    assert Model.model_validate_json(json.dumps({"token": value})).token.reveal() == value
    assert Model(token=Secret(value)).token == Secret(value)


def test_secret_compares_in_constant_time_and_cannot_be_pickled_or_hashed():
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))
    with pytest.raises(TypeError):
        hash(Secret("x"))
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]
    assert Secret(Secret("nested")).reveal() == "nested"
    assert not Secret("")
    assert len(Secret("abc")) == 3
