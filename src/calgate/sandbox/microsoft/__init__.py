"""Microsoft identity platform (Entra ID v2.0) and Microsoft Graph v1.0 emulator: calendar,
contacts and change-notification subscriptions, per shared/reference/provider-protocols.md
§1–3 and §10. See docs/sandbox.md."""

from calgate.sandbox.microsoft.emulator import MicrosoftEmulator

__all__ = ["MicrosoftEmulator"]
