"""Calendar provider connectors behind one interface (`calgate.connectors.base`).

One package per provider with the same files: ``connector.py`` (the exported class),
``client.py`` (the wire client over an injected ``httpx.AsyncClient``), ``mapping.py`` (pure
provider ↔ domain functions), ``config.py`` (the app registration) and ``CHECKLIST.yaml``.
"""
