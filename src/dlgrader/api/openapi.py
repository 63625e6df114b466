"""The OpenAPI document, completed with what depends on the settings (limits, API-key security) and with
every error status each operation can return, all in the one error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dlgrader.api.errors import BODY_STATUSES, ERROR_STATUSES, V1_STATUSES
from dlgrader.config import Settings

_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Always `Bearer`.", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}},
    503: {"Retry-After": {"description": "Seconds to wait (while loading).", "schema": {"type": "integer"}}},
}


def _set_limits(schemas: dict[str, Any], settings: Settings) -> None:
    for name in ("GradeIn", "BatchItemIn"):
        answer = schemas.get(name, {}).get("properties", {}).get("answer")
        if answer is not None:
            answer["maxLength"] = settings.max_answer_chars
    items = schemas.get("BatchIn", {}).get("properties", {}).get("items")
    if items is not None:
        items["maxItems"] = settings.max_batch_items


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": ERROR_STATUSES[status],
                                "content": {"application/json": {"schema": _ERROR_REF}}}
    if status in _HEADERS:
        response["headers"] = _HEADERS[status]
    return response


def document_errors(document: dict[str, Any]) -> None:
    """Every error status an operation can return, documented with the one error shape: those of the
    middleware (auth, rate limit, body guard), which no route declares, and FastAPI's own 422 replaced,
    since the service never answers in FastAPI's validation shape."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            statuses = [*(V1_STATUSES if path.startswith("/v1/") else ()),
                        *(BODY_STATUSES if "requestBody" in operation else ())]
            responses = operation.setdefault("responses", {})
            for status in statuses:
                responses.setdefault(str(status), _error_response(status))
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {"application/json": {"schema": _ERROR_REF}}
                    if int(status) in _HEADERS:
                        response.setdefault("headers", _HEADERS[int(status)])
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


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
            document_errors(document)
            if settings.api_key_set:
                _set_security(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
