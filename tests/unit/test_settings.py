"""Settings: validation, production rules, URL normalisation, the README table."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import ValidationError

from calgate.cli import load_settings
from calgate.errors import ConfigurationError
from calgate.settings import AuthMode, Environment, LogFormat, Settings, normalise_database_url

from support.canary import canary
from support.settings import IsolatedSettings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    s = IsolatedSettings()

    assert s.env is Environment.DEVELOPMENT
    assert s.data_dir == Path("calgate-data")
    assert s.effective_auth_mode is AuthMode.LOCAL
    assert s.log_format is LogFormat.TEXT
    assert s.is_sqlite
    assert s.resolved_database_url == (
        f"sqlite+aiosqlite:///{(Path('calgate-data') / 'calgate.db').resolve()}"
    )
    assert s.trusted_proxies == ["127.0.0.1"]
    assert s.session_ttl_seconds == 900


def test_settings_come_from_calgate_environment_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CALGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CALGATE_LOG_FORMAT", "json")
    monkeypatch.setenv("CALGATE_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.2 ,")
    monkeypatch.setenv("CALGATE_SESSION_TTL_SECONDS", "600")
    monkeypatch.setenv("DATA_DIR", "/nope")  # no prefix, no effect

    s = Settings()

    assert s.data_dir == tmp_path
    assert s.log_format is LogFormat.JSON
    assert s.trusted_proxies == ["10.0.0.1", "10.0.0.2"]
    assert s.session_ttl_seconds == 600


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db/calgate", "postgresql+asyncpg://u:p@db/calgate"),
        ("postgresql://u@db:5433/calgate", "postgresql+asyncpg://u@db:5433/calgate"),
        ("postgresql+asyncpg://u@db/calgate", "postgresql+asyncpg://u@db/calgate"),
        ("sqlite:////var/lib/calgate.db", "sqlite+aiosqlite:////var/lib/calgate.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_normalisation(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected
    s = IsolatedSettings(database_url=given)
    assert s.resolved_database_url == expected
    assert s.is_sqlite == expected.startswith("sqlite")


def test_settings_are_frozen() -> None:
    s = IsolatedSettings()
    with pytest.raises(ValidationError):
        s.log_level = "DEBUG"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"operator_key": "short"}, "operator_key"),
        ({"secret_key": "x" * 31}, "secret_key"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"session_ttl_seconds": 5}, "session_ttl_seconds"),
        ({"env": "staging"}, "env"),
        ({"public_url": "not a url"}, "public_url"),
    ],
)
def test_invalid_values_are_refused(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        IsolatedSettings(**overrides)


def test_log_level_is_case_insensitive() -> None:
    assert IsolatedSettings(log_level="debug").log_level == "DEBUG"


def _production(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "env": "production",
        "operator_key": canary("operator-key"),
        "secret_key": canary("server-secret"),
        "oidc_issuer": "https://idp.example.com",
        "oidc_audience": "calgate",
        "master_key": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",  # 32 bytes, base64
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


def test_production_with_everything_configured() -> None:
    s = IsolatedSettings(**_production())

    assert s.is_production
    assert s.effective_auth_mode is AuthMode.OIDC


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"operator_key": None}, "production needs CALGATE_OPERATOR_KEY to be set"),
        (
            {"operator_key": None, "secret_key": None},
            "production needs CALGATE_OPERATOR_KEY, CALGATE_SECRET_KEY to be set",
        ),
        ({"oidc_audience": None}, "set CALGATE_OIDC_ISSUER and CALGATE_OIDC_AUDIENCE"),
    ],
)
def test_production_refuses_missing_keys_in_one_line(
    monkeypatch: pytest.MonkeyPatch, missing: dict[str, object], message: str
) -> None:
    for name, value in _production(**missing).items():
        monkeypatch.setenv(f"CALGATE_{name.upper()}", str(value))

    with pytest.raises(ConfigurationError) as info:
        load_settings()

    assert message in info.value.detail
    assert "\n" not in info.value.detail
    assert "cgcanary" not in info.value.detail


def test_production_may_keep_local_sign_in_explicitly() -> None:
    s = IsolatedSettings(**_production(oidc_issuer=None, oidc_audience=None, auth_mode="local"))
    assert s.effective_auth_mode is AuthMode.LOCAL


def test_cli_names_the_variable_and_never_echoes_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALGATE_OPERATOR_KEY", "cgcanary-short")

    with pytest.raises(ConfigurationError) as info:
        load_settings()

    assert info.value.detail == (
        "configuration error: CALGATE_OPERATOR_KEY: must be at least 32 characters "
        "(use `openssl rand -base64 32`)"
    )


def test_the_sandbox_url_points_the_entra_authority_at_the_sandbox_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Add-in (NAA) tokens minted by `calgate sandbox` carry its issuer: with only
    CALGATE_SANDBOX_URL set, calgate verifies them against the sandbox's Entra ID."""
    assert IsolatedSettings().entra_authority == "https://login.microsoftonline.com"
    sandbox = IsolatedSettings(sandbox_url="http://127.0.0.1:8090/")
    assert sandbox.entra_authority == "http://127.0.0.1:8090/microsoft"

    monkeypatch.delenv("CALGATE_ENTRA_AUTHORITY", raising=False)
    monkeypatch.setenv("CALGATE_SANDBOX_URL", "http://127.0.0.1:8091")
    assert Settings().entra_authority == "http://127.0.0.1:8091/microsoft"


@pytest.mark.parametrize("authority", ["https://login.microsoftonline.com", "https://idp.example"])
def test_an_explicit_entra_authority_wins_over_the_sandbox_url(
    monkeypatch: pytest.MonkeyPatch, authority: str
) -> None:
    given = IsolatedSettings(sandbox_url="http://127.0.0.1:8090", entra_authority=authority)
    assert given.entra_authority == authority

    monkeypatch.setenv("CALGATE_SANDBOX_URL", "http://127.0.0.1:8090")
    monkeypatch.setenv("CALGATE_ENTRA_AUTHORITY", authority)
    assert Settings().entra_authority == authority


def _settings_table_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    script = _settings_table_script()

    assert script.render(readme) == readme, (
        "README.md's settings table is stale: run `python scripts/settings_table.py --write`"
    )
    for name in Settings.model_fields:
        assert f"`CALGATE_{name.upper()}`" in readme


def test_every_setting_is_described() -> None:
    for name, field in Settings.model_fields.items():
        assert len(field.description or "") > 10, name
