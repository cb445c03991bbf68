"""The reference client against calgate and the provider sandbox: see
``support.client_fixtures``."""

from support.client_fixtures import *  # noqa: F403
