"""The HTTP API: a FastAPI app built by ``create_app`` (nothing happens at import time)."""

from __future__ import annotations

from dlgrader.api.main import create_app

__all__ = ["create_app"]
