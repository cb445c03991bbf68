"""The incremental sync pipeline (issue #6): per connection, fetch what changed at the
provider since the last sync (Google sync tokens, Graph calendarView delta), tell the user's
apps, and hand the changes to registered :class:`ChangeConsumer` s (issue #7's meeting sync).
Driven by webhooks and by a due-time reconciliation that checks every connection at least
every ``CALGATE_RECONCILE_MINUTES``."""

from calgate.sync.changes import (
    Change,
    ChangeConsumer,
    ChangeConsumers,
    SyncContext,
    changes_from_batch,
)

__all__ = ["Change", "ChangeConsumer", "ChangeConsumers", "SyncContext", "changes_from_batch"]
