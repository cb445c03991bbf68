"""Demo data for ``calgate demo``: one account with groups, users and an admin key, seeded
once and reused on later runs. Generated credentials go to a file readable only by the
current user; they are never printed."""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calgate.bootstrap import Runtime
from calgate.domain.principal import Principal, PrincipalKind

__all__ = ["DEMO_ACCOUNT", "DemoSeed", "seed_demo"]

DEMO_ACCOUNT = "Acme Video (demo)"
OPERATOR = Principal(PrincipalKind.OPERATOR)

_GROUPS: dict[str, dict[str, Any]] = {
    "Engineering": {"bidirectional_sync": True},
    "Sales": {"calendar_access": "read"},
}
_USERS = (
    ("alice@example.com", "Alice Example", "Engineering"),
    ("bob@example.com", "Bob Example", "Sales"),
    ("carol@example.com", "Carol Example", None),
)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    account_id: uuid.UUID
    credentials_file: Path
    created: bool


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    tmp.replace(path)


async def seed_demo(runtime: Runtime) -> DemoSeed:
    """Create the demo account unless it exists (and its credentials file with it)."""
    creds_path = runtime.settings.data_dir / "demo-credentials.json"
    async with runtime.uow() as uow:
        for account in await uow.accounts.list():
            if account.name == DEMO_ACCOUNT and creds_path.exists():
                return DemoSeed(account.id, creds_path, created=False)
        tenancy = runtime.tenancy
        account = await tenancy.create_account(
            uow, OPERATOR, name=DEMO_ACCOUNT, policy={"contacts_access": "read"}
        )
        groups = {}
        for name, policy in _GROUPS.items():
            groups[name] = await tenancy.create_group(
                uow, OPERATOR, account.id, name=name, policy=policy
            )
        users: list[dict[str, str]] = []
        for email, display, group in _USERS:
            password = secrets.token_urlsafe(12)
            user = await tenancy.create_user(
                uow,
                OPERATOR,
                account.id,
                email=email,
                display_name=display,
                group_id=groups[group].id if group else None,
                password=password,
            )
            users.append(
                {
                    "id": str(user.id),
                    "email": email,
                    "password": password,
                    "group": group or "(none)",
                }
            )
        key = await tenancy.create_api_key(uow, OPERATOR, account.id, name="demo admin")
        await uow.commit()
    _write_private(
        creds_path,
        {
            "account_id": str(account.id),
            "admin_api_key": key.secret,
            "operator_key_file": str((runtime.settings.data_dir / "operator.key").resolve()),
            "users": users,
        },
    )
    return DemoSeed(account.id, creds_path, created=True)
