"""``calgate keys``: the vault's master key file, key versions and online rewrap.

These commands run where the key material already is (the key file or
``CALGATE_MASTER_KEY``, and the database), so they need no second factor; the same actions
over HTTP (``/v1/operator/keys/...``) need the operator key and a TOTP code. Rotation and
rewrap are written to the audit log (system chain) as ``operator-cli``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from calgate.errors import NotFound

if TYPE_CHECKING:
    from calgate.bootstrap import Runtime
    from calgate.vault.maintenance import VaultStatus

__all__ = ["ACTOR", "keys_app"]

ACTOR = "operator-cli"
T = TypeVar("T")

keys_app = typer.Typer(
    help="Manage the vault's encryption keys: generate | status | rotate | rewrap.",
    no_args_is_help=True,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _with_runtime(work: Callable[[Runtime], Awaitable[T]]) -> T:
    from calgate.bootstrap import build_runtime
    from calgate.cli import load_settings

    settings = load_settings()

    async def run() -> T:
        runtime = await build_runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(run())


@keys_app.command("generate")
def generate(
    path: Annotated[
        Path | None,
        typer.Option(
            help="Where to write the key file. Default: CALGATE_MASTER_KEY_FILE, else "
            "<CALGATE_DATA_DIR>/master.key."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace an existing key file (the old one is kept aside, renamed)."
        ),
    ] = False,
) -> None:
    """Create a new master key file (32 random bytes, base64, mode 0600) and print its path.

    The key itself is never printed. Back the file up: without it no stored credential
    can be decrypted. Refuses to overwrite an existing file unless --force.
    """
    from calgate.vault.keys import generate_key_file, master_key_path

    if path is None:
        from calgate.cli import load_settings

        path = master_key_path(load_settings())
    kept = generate_key_file(path, force=force)
    if kept is not None:
        err.print(f"the previous key file was kept as {kept}", markup=False, soft_wrap=True)
    out.print(str(path), markup=False, soft_wrap=True)


def _status_dict(status: VaultStatus, runtime: Runtime) -> dict[str, Any]:
    return {
        "kek_id": status.kek_id,
        "known_kek_ids": list(status.known_kek_ids),
        "data_keys_per_kek": status.keks_in_use,
        "key_source": str(getattr(runtime.vault.wrapper, "path", None) or "CALGATE_MASTER_KEY"),
        "versions": [
            {
                "version": v.version,
                "data_keys": v.data_keys,
                "current_data_keys": v.current,
                "secrets": v.secrets,
                "encryptions": v.encryptions,
                "max_encryptions_on_one_key": v.max_encryptions,
            }
            for v in status.versions
        ],
        "secrets": status.secrets,
        "secrets_on_retired_keys": status.secrets_on_retired_keys,
        "secrets_without_key": status.secrets_without_key,
        "removable_kek_ids": status.removable_kek_ids,
        "operator_totp": _totp_source(runtime),
        "warnings": status.warnings,
    }


def _totp_source(runtime: Runtime) -> str:
    factor = runtime.second_factor
    if not factor.configured:
        return "not configured (set CALGATE_OPERATOR_TOTP_SECRET)"
    if factor.path is not None:
        return f"secret in {factor.path} (enrol it in an authenticator app)"
    return "from CALGATE_OPERATOR_TOTP_SECRET"


@keys_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show the master key ids in use, data keys, secrets and encryptions per key version.

    Warns when a data key has sealed more than 2^30 secrets (rotate it), when secrets are
    still on retired keys (run `calgate keys rewrap`), and about unreadable secrets.
    """

    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.uow(readonly=True) as uow:
            return _status_dict(await runtime.vault.status(uow), runtime)

    data = _with_runtime(work)
    if as_json:
        out.print(json.dumps(data), markup=False, soft_wrap=True)
        return
    out.print(f"master key (KEK)   {data['kek_id']}  (current; from {data['key_source']})")
    for kek in data["known_kek_ids"][1:]:
        hint = "  (wraps no data key: may be removed)" if kek in data["removable_kek_ids"] else ""
        out.print(f"previous key       {kek}{hint}")
    for kek, n in data["data_keys_per_kek"].items():
        out.print(f"data keys under    {kek}: {n}")
    table = Table(title="data key versions", title_justify="left")
    for column in ("version", "data keys", "current", "secrets", "encryptions", "max on one key"):
        table.add_column(column, justify="right")
    for v in data["versions"]:
        table.add_row(*(str(x) for x in v.values()))
    out.print(table)
    out.print(
        f"secrets: {data['secrets']} (on retired keys: {data['secrets_on_retired_keys']}, "
        f"without a key: {data['secrets_without_key']})"
    )
    out.print(f"operator TOTP: {data['operator_totp']}", markup=False, soft_wrap=True)
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False, soft_wrap=True)


@keys_app.command("rotate")
def rotate(
    kek: Annotated[
        bool,
        typer.Option(
            "--kek",
            help="Also start a new master key (key file only; the previous key stays in "
            "the file to unwrap until rewrap is done).",
        ),
    ] = False,
    data_keys: Annotated[
        bool,
        typer.Option("--data-keys/--no-data-keys", help="Start a new data key per account."),
    ] = True,
    account: Annotated[
        uuid.UUID | None, typer.Option(help="Rotate only this account's data key.")
    ] = None,
) -> None:
    """Start new key versions, online. Secrets stay readable; new ones use the new keys.

    Then run `calgate keys rewrap` to move existing secrets to the new keys.
    """
    if not (kek or data_keys):
        raise typer.BadParameter("nothing to rotate: give --kek and/or --data-keys")

    async def work(runtime: Runtime) -> str:
        async with runtime.uow() as uow:
            if account is not None and await uow.accounts.get(account) is None:
                raise NotFound(f"account {account} not found")
            result = await runtime.vault.rotate(
                uow, actor=ACTOR, kek=kek, data_keys=data_keys, account_id=account
            )
            await uow.commit()
        new_kek = " (new)" if result.kek_rotated else ""
        return (
            f"master key {result.kek_id}{new_kek}; new data keys: {result.data_keys_rotated}. "
            "Run `calgate keys rewrap` to move existing secrets to them."
        )

    out.print(_with_runtime(work), markup=False, soft_wrap=True)


@keys_app.command("rewrap")
def rewrap(
    batch_size: Annotated[
        int, typer.Option(min=1, max=10_000, help="Rows re-encrypted per transaction.")
    ] = 1000,
) -> None:
    """Re-encrypt every data key and secret not on the current keys, online, in batches.

    Safe to run while calgate serves requests, and resumable: interrupted, it continues
    where it stopped when run again (only rows not yet on the current keys are touched).
    """

    async def work(runtime: Runtime) -> str:
        columns = (
            TextColumn("rewrap"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task("rewrap", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or 1)

            result = await runtime.vault.rewrap(
                runtime.uow, actor=ACTOR, batch_size=batch_size, progress=progress
            )
            bar.update(task, completed=bar.tasks[0].total)
        line = (
            f"rewrapped {result.data_keys_rewrapped} data keys and "
            f"{result.secrets_rewrapped} secrets in {result.batches} batches"
        )
        if result.unreadable:
            line += (
                f"; {result.unreadable} could not be decrypted and were left as they are "
                "(see the log)"
            )
        return line

    out.print(_with_runtime(work), markup=False, soft_wrap=True)
