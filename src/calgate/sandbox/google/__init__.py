"""Google emulator: OAuth 2.0, Calendar v3 with push channels, a People API subset.

Modules: ``oauth``/``tokens`` (OAuth endpoints, grant lifecycle), ``calendar``/``events``/
``listing``/``recurrence``/``times`` (Calendar v3), ``watch`` (channels), ``people``,
``discovery`` (served discovery document), ``principal``/``scopes`` (bearer tokens and scope
checks), ``state``/``context`` (in-memory world), ``mapping`` (seed data → Google JSON),
``control`` (``/_sandbox/google``), ``emulator`` (the assembled :class:`GoogleEmulator`).
"""

from calgate.sandbox.google.emulator import GoogleEmulator

__all__ = ["GoogleEmulator"]
