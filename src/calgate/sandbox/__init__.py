"""Provider sandbox: faithful local emulators of Google and Microsoft (and later Exchange and
room devices) that speak the providers' real wire formats, fire real webhooks over HTTP and
fail the way the real services fail. See docs/sandbox.md.

Layout: the shared core (``core.py`` clock, faults, counters; ``webhooks.py`` delivery;
``app.py`` composition and the ``/_sandbox`` control API; ``model.py`` + ``datagen.py``
provider-neutral seed data) and one package per provider (``google/``, ``microsoft/``), each
exporting an :class:`~calgate.sandbox.core.Emulator`.
"""
