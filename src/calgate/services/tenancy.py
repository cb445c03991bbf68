"""Accounts, user groups, users, admin API keys and policies.

Authorisation is decided here, next to the data: an operator may act on any account; an
account admin only on their own. Asking about another tenant's account answers *not found*,
exactly as for an id that does not exist, so ids cannot be probed.

Read-modify-write changes (policies, renames, user updates) read the row with a lock, so
that concurrent changes apply one after the other and each audit entry's ``before`` is what
the change really replaced.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from calgate.clock import Clock
from calgate.domain.model import Account, ApiKey, Group, User
from calgate.domain.policy import EffectivePolicy, PolicyOverrides, resolve
from calgate.domain.principal import Principal, PrincipalKind
from calgate.errors import Forbidden, InvalidInput, NotFound
from calgate.persistence.repositories import Lock
from calgate.persistence.uow import SqlUnitOfWork
from calgate.security import apikeys
from calgate.security.passwords import hash_password
from calgate.services.audit import AuditLog
from calgate.vault.base import CredentialVault

__all__ = ["CreatedApiKey", "Tenancy", "require_account_admin", "require_operator"]


def require_account_admin(principal: Principal, account_id: uuid.UUID) -> None:
    """Raise unless ``principal`` may administer ``account_id``. Another tenant's account is
    reported as not found; a signed-in user is told administration needs an admin key."""
    if principal.can_administer(account_id):
        return
    if principal.kind is PrincipalKind.USER and principal.account_id == account_id:
        raise Forbidden("account administration needs an account admin API key")
    raise NotFound(f"account {account_id} not found")


def require_operator(principal: Principal) -> None:
    if principal.kind is not PrincipalKind.OPERATOR:
        raise Forbidden("this needs the operator key")


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: ApiKey
    secret: str  # shown to the caller exactly once


class Tenancy:
    def __init__(self, *, clock: Clock, audit: AuditLog, vault: CredentialVault) -> None:
        self._clock = clock
        self._audit = audit
        self._vault = vault
        # Run inside delete_user's transaction before the user row goes, e.g. to delete the
        # user's stored credentials (which no foreign key reaches): (uow, account_id, user_id).
        self.user_deletion_hooks: list[
            Callable[[SqlUnitOfWork, uuid.UUID, uuid.UUID], Awaitable[None]]
        ] = []
        # Told (after the commit) that users' effective policies in an account may have
        # changed, e.g. to drop cached views of them: (account_id).
        self.policy_change_hooks: list[Callable[[uuid.UUID], None]] = []
        # Run inside the same transaction, just before it commits, when users' effective
        # policies in an account may have changed (e.g. deleting synced events when
        # bi-directional sync is turned off, R8): (uow, account_id).
        self.policy_change_tx_hooks: list[
            Callable[[SqlUnitOfWork, uuid.UUID], Awaitable[None]]
        ] = []

    def _policies_changed(self, uow: SqlUnitOfWork, account_id: uuid.UUID) -> None:
        for tx_hook in self.policy_change_tx_hooks:
            uow.before_commit(functools.partial(tx_hook, uow, account_id))
        hooks = list(self.policy_change_hooks)

        async def notify() -> None:
            for hook in hooks:
                hook(account_id)

        if hooks:
            uow.after_commit(notify)

    # accounts ----------------------------------------------------------------------------
    async def create_account(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        *,
        name: str,
        policy: dict[str, Any] | None = None,
    ) -> Account:
        require_operator(principal)
        account = Account(
            uuid.uuid4(), name, self._clock.now(), PolicyOverrides.from_dict(policy or {})
        )
        await uow.accounts.add(account)
        await self._audit.record(
            uow,
            actor=principal,
            action="account.created",
            target=f"account:{account.id}",
            account_id=account.id,
            details={"name": name, "policy": account.policy.to_dict()},
        )
        return account

    async def get_account(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        lock: Lock | None = None,
    ) -> Account:
        require_account_admin(principal, account_id)
        account = await uow.accounts.get(account_id, lock=lock)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        return account

    async def list_accounts(self, uow: SqlUnitOfWork, principal: Principal) -> Sequence[Account]:
        if principal.kind is PrincipalKind.OPERATOR:
            return await uow.accounts.list()
        if principal.kind is PrincipalKind.ADMIN:
            return await uow.accounts.list(only=principal.account_id)
        raise Forbidden("listing accounts needs an admin API key or the operator key")

    async def rename_account(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, name: str
    ) -> Account:
        account = await self.get_account(uow, principal, account_id, lock="change")
        await uow.accounts.update(account_id, name=name)
        await self._audit.record(
            uow,
            actor=principal,
            action="account.renamed",
            target=f"account:{account_id}",
            account_id=account_id,
            details={"from": account.name, "to": name},
        )
        return await self.get_account(uow, principal, account_id)

    async def delete_account(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID
    ) -> None:
        require_account_admin(principal, account_id)  # another tenant's account: not found
        require_operator(principal)
        account = await self.get_account(uow, principal, account_id, lock="delete")
        await self._audit.record(
            uow,
            actor=principal,
            action="account.deleted",
            target=f"account:{account_id}",
            account_id=account_id,
            details={"name": account.name},
        )
        # Crypto-shredding: the account's data keys go in the same transaction, so its
        # ciphertexts stay unreadable even where a copy of them survives (backups).
        await self._vault.shred_account(uow, account_id)
        await uow.accounts.delete(account_id)

    # policies ----------------------------------------------------------------------------
    async def update_account_policy(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        changes: dict[str, Any],
    ) -> Account:
        account = await self.get_account(uow, principal, account_id, lock="change")
        new = account.policy.merged(changes)
        await uow.accounts.update(account_id, policy=new)
        await self._audit.record(
            uow,
            actor=principal,
            action="policy.changed",
            target=f"account:{account_id}",
            account_id=account_id,
            details={
                "level": "account",
                "before": account.policy.to_dict(),
                "after": new.to_dict(),
            },
        )
        self._policies_changed(uow, account_id)
        return await self.get_account(uow, principal, account_id)

    async def update_group_policy(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        group_id: uuid.UUID,
        changes: dict[str, Any],
    ) -> Group:
        group = await self.get_group(uow, principal, account_id, group_id, lock="change")
        new = group.policy.merged(changes)
        await uow.groups.update(account_id, group_id, policy=new)
        await self._audit.record(
            uow,
            actor=principal,
            action="policy.changed",
            target=f"group:{group_id}",
            account_id=account_id,
            details={
                "level": "group",
                "group": group.name,
                "before": group.policy.to_dict(),
                "after": new.to_dict(),
            },
        )
        self._policies_changed(uow, account_id)
        return await self.get_group(uow, principal, account_id, group_id)

    async def effective_policy(
        self, uow: SqlUnitOfWork, account_id: uuid.UUID, user: User
    ) -> EffectivePolicy:
        """The user's effective policy. No authorisation check: callers have already
        established that they may see this user (admin route, or the user themself)."""
        account = await uow.accounts.get(account_id)
        if account is None:
            raise NotFound(f"account {account_id} not found")
        group = await uow.groups.get(account_id, user.group_id) if user.group_id else None
        return resolve(
            account.policy,
            group.policy if group else None,
            group_name=group.name if group else None,
        )

    # groups ------------------------------------------------------------------------------
    async def create_group(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        name: str,
        policy: dict[str, Any] | None = None,
    ) -> Group:
        await self.get_account(uow, principal, account_id)
        group = Group(
            uuid.uuid4(),
            account_id,
            name,
            self._clock.now(),
            PolicyOverrides.from_dict(policy or {}),
        )
        await uow.groups.add(group)
        await self._audit.record(
            uow,
            actor=principal,
            action="group.created",
            target=f"group:{group.id}",
            account_id=account_id,
            details={"name": name, "policy": group.policy.to_dict()},
        )
        return group

    async def get_group(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        group_id: uuid.UUID,
        *,
        lock: Lock | None = None,
    ) -> Group:
        require_account_admin(principal, account_id)
        group = await uow.groups.get(account_id, group_id, lock=lock)
        if group is None:
            raise NotFound(f"user group {group_id} not found")
        return group

    async def list_groups(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID
    ) -> Sequence[Group]:
        await self.get_account(uow, principal, account_id)
        return await uow.groups.list(account_id)

    async def rename_group(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        group_id: uuid.UUID,
        name: str,
    ) -> Group:
        group = await self.get_group(uow, principal, account_id, group_id, lock="change")
        await uow.groups.update(account_id, group_id, name=name)
        await self._audit.record(
            uow,
            actor=principal,
            action="group.renamed",
            target=f"group:{group_id}",
            account_id=account_id,
            details={"from": group.name, "to": name},
        )
        return await self.get_group(uow, principal, account_id, group_id)

    async def delete_group(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, group_id: uuid.UUID
    ) -> None:
        group = await self.get_group(uow, principal, account_id, group_id)
        self._policies_changed(uow, account_id)
        await uow.groups.delete(account_id, group_id)
        await self._audit.record(
            uow,
            actor=principal,
            action="group.deleted",
            target=f"group:{group_id}",
            account_id=account_id,
            details={"name": group.name},
        )

    # users -------------------------------------------------------------------------------
    async def create_user(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        email: str,
        display_name: str | None = None,
        group_id: uuid.UUID | None = None,
        password: str | None = None,
        external_id: str | None = None,
    ) -> User:
        await self.get_account(uow, principal, account_id)
        if group_id is not None:
            await self._group_in_account(uow, principal, account_id, group_id)
        user = User(
            id=uuid.uuid4(),
            account_id=account_id,
            email=email.lower(),
            display_name=display_name or email.split("@")[0],
            created_at=self._clock.now(),
            group_id=group_id,
            external_id=external_id,
            has_password=password is not None,
        )
        await uow.users.add(user, password_hash=hash_password(password) if password else None)
        await self._audit.record(
            uow,
            actor=principal,
            action="user.created",
            target=f"user:{user.id}",
            account_id=account_id,
            details={"group": str(group_id) if group_id else None},
        )
        return user

    async def _group_in_account(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, group_id: uuid.UUID
    ) -> None:
        try:
            await self.get_group(uow, principal, account_id, group_id)
        except NotFound:
            raise InvalidInput(
                f"user group {group_id} does not exist in this account", field="group_id"
            ) from None

    async def get_user(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        lock: Lock | None = None,
    ) -> User:
        require_account_admin(principal, account_id)
        user = await uow.users.get(account_id, user_id, lock=lock)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def list_users(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        *,
        group_id: uuid.UUID | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> Sequence[User]:
        await self.get_account(uow, principal, account_id)
        return await uow.users.list(account_id, group_id=group_id, limit=limit, after=after)

    async def update_user(
        self,
        uow: SqlUnitOfWork,
        principal: Principal,
        account_id: uuid.UUID,
        user_id: uuid.UUID,
        changes: dict[str, Any],
    ) -> User:
        user = await self.get_user(uow, principal, account_id, user_id, lock="change")
        values: dict[str, object] = {}
        if "group_id" in changes:
            if changes["group_id"] is not None:
                await self._group_in_account(uow, principal, account_id, changes["group_id"])
            values["group_id"] = changes["group_id"]
        if changes.get("display_name") is not None:
            values["display_name"] = changes["display_name"]
        if changes.get("email") is not None:
            values["email"] = str(changes["email"]).lower()
        if "external_id" in changes:
            values["external_id"] = changes["external_id"]
        if "password" in changes:
            pw = changes["password"]
            values["password_hash"] = hash_password(pw) if pw is not None else None
        await uow.users.update(account_id, user_id, **values)
        audited = sorted(k for k in values if k != "password_hash")
        if "password_hash" in values:
            audited.append("password")
        await self._audit.record(
            uow,
            actor=principal,
            action="user.updated",
            target=f"user:{user_id}",
            account_id=account_id,
            details={
                "fields": audited,
                **(
                    {
                        "group": {
                            "from": str(user.group_id) if user.group_id else None,
                            "to": str(values["group_id"]) if values["group_id"] else None,
                        }
                    }
                    if "group_id" in values
                    else {}
                ),
            },
        )
        if "group_id" in values:
            self._policies_changed(uow, account_id)
        return await self.get_user(uow, principal, account_id, user_id)

    async def delete_user(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        await self.get_user(uow, principal, account_id, user_id)
        for hook in self.user_deletion_hooks:
            await hook(uow, account_id, user_id)
        self._policies_changed(uow, account_id)
        await uow.users.delete(account_id, user_id)
        await self._audit.record(
            uow,
            actor=principal,
            action="user.deleted",
            target=f"user:{user_id}",
            account_id=account_id,
        )

    # admin API keys ----------------------------------------------------------------------
    async def create_api_key(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, *, name: str
    ) -> CreatedApiKey:
        await self.get_account(uow, principal, account_id)
        secret, digest, hint = apikeys.generate()
        key = ApiKey(uuid.uuid4(), account_id, name, hint, self._clock.now())
        await uow.api_keys.add(key, key_hash=digest)
        await self._audit.record(
            uow,
            actor=principal,
            action="api_key.created",
            target=f"api_key:{key.id}",
            account_id=account_id,
            details={"name": name, "hint": hint},
        )
        return CreatedApiKey(key, secret)

    async def list_api_keys(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID
    ) -> Sequence[ApiKey]:
        await self.get_account(uow, principal, account_id)
        return await uow.api_keys.list(account_id)

    async def revoke_api_key(
        self, uow: SqlUnitOfWork, principal: Principal, account_id: uuid.UUID, key_id: uuid.UUID
    ) -> None:
        await self.get_account(uow, principal, account_id)
        key = await uow.api_keys.get(account_id, key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        await uow.api_keys.revoke(account_id, key_id, self._clock.now())
        await self._audit.record(
            uow,
            actor=principal,
            action="api_key.revoked",
            target=f"api_key:{key_id}",
            account_id=account_id,
            details={"name": key.name, "hint": key.hint},
        )
