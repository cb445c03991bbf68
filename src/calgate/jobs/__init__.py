"""Durable background jobs: a leased jobs table, at-least-once, no leader.

- :class:`JobQueue` enqueues inside the caller's unit of work (``runtime.jobs``).
- :class:`JobRegistry` maps job kinds to handlers and declares recurring work
  (``runtime.job_registry``, filled in :mod:`calgate.bootstrap`).
- :class:`JobRunner` runs them (``calgate worker``, or inside ``calgate serve``).
"""

from calgate.jobs.model import GiveUp, Job, JobState, RetryLater
from calgate.jobs.queue import JobQueue
from calgate.jobs.registry import BoundJobs, JobRegistry, Schedule
from calgate.jobs.runner import JobRunner

__all__ = [
    "BoundJobs",
    "GiveUp",
    "Job",
    "JobQueue",
    "JobRegistry",
    "JobRunner",
    "JobState",
    "RetryLater",
    "Schedule",
]
