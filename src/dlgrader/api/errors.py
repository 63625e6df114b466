"""One error shape for every failure the API returns: ``{"error": {"code", "message", "details"}}``.

Domain errors (``dlgrader.errors``) and framework errors (validation, unknown routes) are translated here,
once, at the HTTP edge. No traceback ever reaches a client.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dlgrader.api.schemas import ErrorOut, encodable
from dlgrader.errors import DlgraderError, InputError

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
          415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited",
          503: "not_ready"}


class ApiError(Exception):
    """An error the API returns on purpose, with its HTTP status, a stable code and an actionable message."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON response for an error (also used by the middleware, outside FastAPI's handlers)."""
    body = encodable({"error": {"code": code, "message": message, "details": details or {}}})
    # header values go out as latin-1: anything else would fail while the response is being sent
    safe_headers = {k: v.encode("latin-1", "replace").decode("latin-1") for k, v in (headers or {}).items()}
    return JSONResponse(body, status_code=status, headers=safe_headers or None)


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in parts) or "request"


def _safe(value: Any) -> Any:
    """A JSON-safe copy of a validation error's context (it may hold exceptions)."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def _problem(error: Any) -> dict[str, Any]:
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    problem = {"field": _loc(error.get("loc", ())), "message": message,
               "type": str(error.get("type", "invalid"))}
    context = error.get("ctx")
    if context and "error" not in context:  # an 'error' context only repeats the message
        problem["context"] = _safe(context)
    return problem


def validation_problems(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI errors as ``{field, message, type}`` (the offending input is not echoed back)."""
    return [_problem(e) for e in errors]


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    bad_json = [e for e in errors if e.get("type") == "json_invalid"]
    if bad_json:
        ctx = bad_json[0].get("ctx") or {}
        position = bad_json[0].get("loc", ("body", "?"))[-1]
        # some of json's reasons end in "at" ("Unterminated string starting at"): say it once
        reason = str(ctx.get("error", "decode error")).removesuffix(" at")
        return error_response(400, "invalid_json", f"The request body is not valid JSON ({reason} at "
                              f"character {position}).", {"position": position})
    problems = validation_problems(errors)
    head = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return error_response(422, "validation_error", f"The request is invalid: {head}{more}.",
                          {"errors": problems})


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    message = str(exc.detail)
    if status == 404:
        message = f"No such endpoint: {request.method} {request.url.path}. See /docs for the API."
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}. See /docs for the API."
    elif status == 400 and message == "There was an error parsing the body":
        message = "The request body could not be parsed; send a JSON object encoded as UTF-8."
    return error_response(status, _CODES.get(status, "http_error"), message, {},
                          dict(exc.headers) if exc.headers else None)


async def _on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InputError):
        return error_response(422, "invalid_input", str(exc))
    log.error("domain error while serving a request: %s", exc)
    return error_response(500, "engine_error", f"The grading engine failed: {exc}")


def install_error_handlers(app: FastAPI) -> None:
    """Register the translations above on an app."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(DlgraderError, _on_domain_error)


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# What each error status means, for the OpenAPI document (``openapi.document_errors`` adds them to every
# operation that can return them, so no route can forget one).
ERROR_STATUSES: dict[int, str] = {
    400: "The body is not valid JSON, or not UTF-8.",
    401: "No valid API key (only when DLGRADER_API_KEYS is set).",
    404: "No such resource.",
    409: "The resource changed since: e.g. the attempt's card was reviewed again, so its rating is locked.",
    413: "The body is larger than DLGRADER_MAX_BODY_BYTES.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "A parameter or field is missing, has the wrong type, or breaks a limit.",
    429: "Rate limit exceeded, or too many wrong API keys from this address; wait for the number of "
         "seconds in Retry-After.",
    503: "The model and index are still loading (retry after Retry-After seconds), or failed to load.",
}
# The statuses any /v1 operation can return, and those an operation with a body adds.
V1_STATUSES = (401, 422, 429, 503)
BODY_STATUSES = (400, 413, 415)

COMMON_ERRORS: dict[int | str, dict[str, Any]] = {s: _doc(ERROR_STATUSES[s]) for s in V1_STATUSES}
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    **{s: _doc(ERROR_STATUSES[s]) for s in BODY_STATUSES}, **COMMON_ERRORS}
