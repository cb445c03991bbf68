"""Provider change-notification subscriptions (issue #6, R9): Graph subscriptions and
Google watch channels created after connect, renewed before 80 % of their lifetime, their
lifecycle events handled, stopped on disconnect; the webhook ingest that checks, stores and
acknowledges every notification; and the reconciliation sweep."""

from calgate.subscriptions.metrics import PushMetrics
from calgate.subscriptions.model import SubscriptionState

__all__ = ["PushMetrics", "SubscriptionState"]
