"""The OpenAPI document, completed with what depends on the settings: limits and API-key security."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dlgrader.config import Settings


def _set_limits(schemas: dict[str, Any], settings: Settings) -> None:
    for name in ("GradeIn", "BatchItemIn"):
        answer = schemas.get(name, {}).get("properties", {}).get("answer")
        if answer is not None:
            answer["maxLength"] = settings.max_answer_chars
    items = schemas.get("BatchIn", {}).get("properties", {}).get("items")
    if items is not None:
        items["maxItems"] = settings.max_batch_items


def _set_security(document: dict[str, Any]) -> None:
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    for path, operations in document.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{"bearer": []}, {"apiKey": []}]


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Replace ``app.openapi`` with one that adds the configured limits and, with keys, the auth schemes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description,
                                   routes=app.routes, tags=app.openapi_tags)
            _set_limits(document.get("components", {}).get("schemas", {}), settings)
            if settings.api_key_set:
                _set_security(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
