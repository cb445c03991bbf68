"""``calgate audit verify``: check every audit hash chain in the database (R3).

The HTTP verifier (``GET /v1/accounts/{a}/audit/verify``) checks one account's chain; this
command checks them all — the system chain included, and the chain of every existing
account, so a chain deleted whole is noticed too — for a nightly job or after a restore. It
only reads; it needs the server secret (``CALGATE_SECRET_KEY`` or the development key file)
that the chains were written with.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated

import typer
from rich.console import Console

from calgate.errors import CalgateError, NotFound

__all__ = ["AuditChainsBroken", "audit_app"]

audit_app = typer.Typer(help="Inspect the tamper-evident audit log: verify.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


class AuditChainsBroken(CalgateError):
    pass


@audit_app.command("verify")
def verify(
    account: Annotated[
        uuid.UUID | None,
        typer.Option(help="Verify only this account's chain."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per chain.")] = False,
) -> None:
    """Verify the audit chains: exit 0 when every chain is intact, 1 naming the first broken
    entry of each chain that is not."""
    from calgate.bootstrap import build_runtime
    from calgate.cli import load_settings
    from calgate.services.audit import ChainReport, account_chain

    settings = load_settings()

    async def run() -> list[ChainReport]:
        runtime = await build_runtime(settings, auto_migrate=False)
        try:
            async with runtime.uow(readonly=True) as uow:
                if account is None:
                    return await runtime.audit.verify_all(uow)
                if await uow.accounts.get(account) is None and not await uow.audit.head(
                    account_chain(account)
                ):
                    raise NotFound(f"no account {account} and no audit chain for it")
                return [await runtime.audit.verify(uow, account_chain(account))]
        finally:
            await runtime.aclose()

    reports = asyncio.run(run())
    for r in reports:
        if as_json:
            record = {
                "chain": r.chain,
                "valid": r.valid,
                "entries": r.entries,
                "first_bad_seq": r.first_bad_seq,
                "problem": r.problem,
            }
            out.print(json.dumps(record), markup=False)
        elif r.valid:
            out.print(f"ok      {r.chain}  ({r.entries} entries)", markup=False)
        else:
            out.print(f"BROKEN  {r.chain}  at entry {r.first_bad_seq}: {r.problem}", markup=False)
    broken = [r for r in reports if not r.valid]
    if broken:
        raise AuditChainsBroken(
            f"{len(broken)} of {len(reports)} audit chains failed verification "
            f"(first: {broken[0].chain} at entry {broken[0].first_bad_seq})"
        )
