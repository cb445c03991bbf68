"""The memory connector's "app registration" (nothing secret: it talks to no one)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MemoryConfig"]


class MemoryConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    client_id: str = Field(default="memory", title="Client ID")
    api_base_url: str = Field(default="memory://calendar", title="API base URL")
