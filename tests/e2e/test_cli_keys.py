"""`calgate keys …` as an operator runs it: a real process, an explicit environment."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from support.canary import canary

pytestmark = pytest.mark.slow


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "calgate.cli", *args],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CALGATE_DATA_DIR": str(tmp_path / "data")}


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CALGATE_ENV": "production",
        "CALGATE_DATA_DIR": str(tmp_path / "data"),
        "CALGATE_OPERATOR_KEY": canary("operator-key"),
        "CALGATE_SECRET_KEY": canary("server-secret"),
        "CALGATE_AUTH_MODE": "local",
        **extra,
    }


def test_generate_prints_only_the_path_and_never_overwrites_R2(tmp_path, env):
    key_file = tmp_path / "data" / "master.key"
    r = run(["keys", "generate"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_line = next(line for line in key_file.read_text().splitlines() if not line.startswith("#"))
    assert len(base64.b64decode(key_line)) == 32
    assert key_line not in r.stdout + r.stderr

    r = run(["keys", "generate"], env, tmp_path)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1
    assert "already exists" in r.stderr
    assert "--force" in r.stderr
    assert key_line in key_file.read_text()

    r = run(["keys", "generate", "--force", "--path", str(key_file)], env, tmp_path)
    assert r.returncode == 0
    assert r.stdout.strip() == str(key_file)
    kept = list(key_file.parent.glob("master.key.replaced-*"))
    assert len(kept) == 1
    assert key_line in kept[0].read_text()


def test_production_refuses_to_start_without_a_key_in_one_line_R2(tmp_path):
    r = run(["keys", "status"], production_env(tmp_path), tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("calgate: configuration error: production needs a vault master key")
    assert r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "data" / "master.key").exists()


def test_a_key_of_the_wrong_length_is_refused_in_one_line_R2(tmp_path):
    short = base64.b64encode(os.urandom(20)).decode()
    r = run(["keys", "status"], production_env(tmp_path, CALGATE_MASTER_KEY=short), tmp_path)
    assert r.returncode == 1
    assert r.stderr == (
        "calgate: configuration error: CALGATE_MASTER_KEY: must be base64 of exactly 32 bytes "
        "(got 20)\n"
    )
    assert short not in r.stderr


def test_status_rotate_rewrap_on_a_development_data_dir_R2(tmp_path, env):
    r = run(["keys", "status", "--json"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    before = json.loads(r.stdout)
    assert before["secrets"] == 0
    assert before["versions"] == []
    assert str(tmp_path / "data" / "operator-totp.secret") in before["operator_totp"]
    assert "generated a vault master key" in r.stderr  # warned once…
    r = run(["keys", "status", "--json"], env, tmp_path)
    assert "generated a vault master key" not in r.stderr  # …and only once

    r = run(["keys", "rotate", "--kek", "--no-data-keys"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "(new)" in r.stdout
    r = run(["keys", "rewrap", "--batch-size", "50"], env, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "rewrapped 0 data keys and 0 secrets" in r.stdout
    after = json.loads(run(["keys", "status", "--json"], env, tmp_path).stdout)
    assert after["kek_id"] != before["kek_id"]
    assert after["known_kek_ids"] == [after["kek_id"], before["kek_id"]]

    r = run(["keys", "rotate", "--account", str(uuid.uuid4())], env, tmp_path)
    assert r.returncode == 1
    assert "not found" in r.stderr
