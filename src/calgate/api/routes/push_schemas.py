"""What admins see of a connection's change notifications (subscription and sync)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from calgate.subscriptions.service import PushStatus

__all__ = ["NotificationsOut"]


class NotificationsOut(BaseModel):
    subscription_state: str | None = Field(
        description="`active`, `pending`, `replaced` (Google, until the new channel takes "
        "over), or null: not subscribed (yet, or the provider has no change notifications)."
    )
    subscription_expires_at: datetime | None
    subscription_renews_at: datetime | None
    subscription_error: str | None = Field(description="The last failed renewal, if any.")
    last_notification_at: datetime | None
    last_sync_at: datetime | None
    last_success_at: datetime | None
    last_change_at: datetime | None
    sync_error: str | None
    next_check_at: datetime | None = Field(
        description="When reconciliation checks this connection next, even without a "
        "notification (at most CALGATE_RECONCILE_MINUTES after the last check)."
    )

    @classmethod
    def of(cls, status: PushStatus) -> NotificationsOut:
        return cls(
            subscription_state=status.subscription_state,
            subscription_expires_at=status.subscription_expires_at,
            subscription_renews_at=status.subscription_renews_at,
            subscription_error=status.subscription_error,
            last_notification_at=status.last_notification_at,
            last_sync_at=status.last_sync_at,
            last_success_at=status.last_success_at,
            last_change_at=status.last_change_at,
            sync_error=status.sync_error,
            next_check_at=status.next_check_at,
        )
