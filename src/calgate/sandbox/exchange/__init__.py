"""On-premises Exchange emulator. So far the part Outlook add-ins need for R14: the
authentication metadata document with the server's signing certificate, and legacy Exchange
user identity tokens (``getUserIdentityTokenAsync``) minted through the control API. See
docs/sandbox.md."""

from calgate.sandbox.exchange.emulator import ExchangeEmulator

__all__ = ["ExchangeEmulator"]
