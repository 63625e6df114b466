"""Pure ASGI middleware, outermost first: request context (id, access log, last-resort errors), body
guard (size, media type, encoding), API-key auth (with failed keys throttled per client address) and
per-key rate limiting.

Auth and rate limits apply to ``/v1/...`` only: health checks and the docs stay open. API keys are never
logged; a request made with a key is logged with the key's short fingerprint (``key_id``). Refused (429)
requests are logged once per identity a minute, with a periodic count of the rest, so a client hammering
the API cannot flood the log.
"""

from __future__ import annotations

import email.message
import hashlib
import hmac
import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dlgrader.api.errors import error_response
from dlgrader.api.logs import RepeatSuppressor, request_id_var
from dlgrader.api.ratelimit import RateLimiter

API_PREFIX = "/v1/"
_access = logging.getLogger("dlgrader.api.access")
_log = logging.getLogger("dlgrader.api")
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _state(scope: Scope) -> dict[str, Any]:
    return scope.setdefault("state", {})


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for an API key, safe to log."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _client_identity(scope: Scope) -> str:
    client = scope.get("client")
    return f"ip-{client[0]}" if client else "ip-unknown"


class RequestContextMiddleware:
    """Gives each request an id (the caller's ``X-Request-ID`` when sane), echoes it, logs one access line
    (429s bounded, see the module docstring), and turns any unhandled exception into a JSON 500 (the
    traceback goes to the log only)."""

    def __init__(self, app: ASGIApp, *, suppress_interval: float = 60.0) -> None:
        self.app = app
        self.refusals = RepeatSuppressor(interval=suppress_interval)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _GOOD_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        _state(scope)["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = {"code": 500, "started": False}
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # the last line of defence at the edge: clients never see a traceback
            _log.exception("unhandled error while serving %s %s", scope.get("method"), scope.get("path"))
            if not status["started"]:
                await error_response(500, "internal_error", "The server failed to handle this request; "
                                     f"quote request id {request_id} when reporting it.")(scope, receive,
                                                                                       send_with_id)
        finally:
            self._log_access(scope, status["code"], start)
            request_id_var.reset(token)

    def _log_access(self, scope: Scope, code: int, start: float) -> None:
        suppressed = self.refusals.flush()
        if suppressed is not None:
            _access.warning("left out %d access-log lines of refused (429) requests from %d identities in the "
                            "last %.0f s", suppressed.count, suppressed.identities, suppressed.interval_s,
                            extra={"event": "access_log_suppressed", "suppressed": suppressed.count,
                                   "identities": suppressed.identities,
                                   "top": dict(suppressed.top)})
        state = _state(scope)
        if code == 429 and not self.refusals.admit(state.get("limited_identity") or _client_identity(scope)):
            return
        client = scope.get("client")
        _access.info("%s %s %s", scope.get("method"), scope.get("path"), code, extra={
            "method": scope.get("method"), "path": scope.get("path"), "status": code,
            "duration_ms": round((time.perf_counter() - start) * 1000, 2),
            "client": client[0] if client else None, "key_id": state.get("key_id")})


class BodyGuardMiddleware:
    """Reads a request body once and refuses it when too large (413), not JSON (415) or not UTF-8 (400);
    the app then reads the buffered body as usual."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        too_large = error_response(413, "payload_too_large", f"The request body is larger than "
                                   f"{self.max_bytes} bytes; send fewer or shorter answers.",
                                   {"max_body_bytes": self.max_bytes})
        declared = _header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = self._refusal(scope, body)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _refusal(scope: Scope, body: bytes) -> Any:
        if not body:
            return None
        header = _header(scope, b"content-type")
        content_type = (header or "").split(";")[0].strip().lower()
        if header is not None and not _is_json(header):
            return error_response(415, "unsupported_media_type", f"The body is {content_type!r}; send JSON "
                                  "with 'Content-Type: application/json'.", {"content_type": content_type})
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return error_response(400, "invalid_encoding", f"The body is not valid UTF-8 (byte "
                                  f"0x{body[exc.start]:02x} at offset {exc.start}); send JSON encoded as "
                                  "UTF-8.", {"offset": exc.start})
        return None


def _is_json(content_type: str) -> bool:
    """Whether FastAPI will read a body of this type as JSON (the same parsing as its own, so a type it
    would pass on as raw bytes, such as ``text/plain+json``, is refused here as 415, not a puzzling 422)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _guarded(scope: Scope) -> bool:
    """Whether auth and rate limits apply: API routes, except CORS preflights."""
    return scope["type"] == "http" and scope["path"].startswith(API_PREFIX) and scope["method"] != "OPTIONS"


def presented_key(scope: Scope) -> str | None:
    """The API key of a request: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""
    auth = _header(scope, b"authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    key = _header(scope, b"x-api-key")
    return key.strip() if key and key.strip() else None


class ApiKeyMiddleware:
    """When keys are configured, ``/v1/...`` needs one of them (401 otherwise).

    With a ``failures`` limiter, wrong keys are throttled per client address: once an address has used up
    its failures it gets 429 for every request, whatever key it sends, until its bucket refills. The check
    comes before the key is compared, so a throttled address cannot go on guessing; other addresses are
    not affected. A missing key is not a guess and is not counted.
    """

    def __init__(self, app: ASGIApp, *, keys: frozenset[str], failures: RateLimiter | None = None) -> None:
        self.app = app
        self.keys = [k.encode() for k in sorted(keys)]
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _guarded(scope):
            await self.app(scope, receive, send)
            return
        address = _client_identity(scope)
        if self.failures is not None and (wait := await self.failures.blocked(address)):
            await self._throttled(scope, receive, send, address, wait)
            return
        key = presented_key(scope)
        # compare_digest against every key: the time taken does not tell which key nearly matched
        if key is not None and any([hmac.compare_digest(key.encode(), k) for k in self.keys]):
            _state(scope)["key_id"] = key_fingerprint(key)
            await self.app(scope, receive, send)
            return
        if key is not None and self.failures is not None:
            await self.failures.hit(address)
        message = ("This API needs a key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
                   if key is None else "The API key is not valid.")
        await error_response(401, "unauthorized", message,
                             headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)

    async def _throttled(self, scope: Scope, receive: Receive, send: Send, address: str, wait: int) -> None:
        assert self.failures is not None
        _state(scope)["limited_identity"] = address
        per_minute = self.failures.per_minute
        await error_response(429, "too_many_failed_keys", f"Too many requests with a wrong API key from "
                             f"this address (more than {per_minute} a minute); retry in {wait} s.",
                             {"failures_per_minute": per_minute, "retry_after_seconds": wait},
                             headers={"Retry-After": str(wait)})(scope, receive, send)


class RateLimitMiddleware:
    """Per API key (or per client address without keys) token-bucket limit on ``/v1/...``: 429 with
    ``Retry-After`` when exceeded. The limiter's store decides the scope: this process (memory; with N
    workers a key gets up to N times the limit) or every worker and replica (Redis)."""

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _guarded(scope):
            await self.app(scope, receive, send)
            return
        identity = _state(scope).get("key_id") or _client_identity(scope)
        wait = await self.limiter.hit(identity)
        if not wait:
            await self.app(scope, receive, send)
            return
        _state(scope)["limited_identity"] = identity
        per_minute = self.limiter.per_minute
        details = {"limit_per_minute": per_minute, "retry_after_seconds": wait}
        refusal = error_response(429, "rate_limited", f"Rate limit of {per_minute} requests a minute "
                                 f"exceeded; retry in {wait} s.", details, headers={"Retry-After": str(wait)})
        await refusal(scope, receive, send)


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight in the API's error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}
        reason = bytes(response.body).decode()
        return error_response(400, "cors_rejected", f"{reason}: this origin, method or header is not allowed "
                              "(DLGRADER_CORS_ORIGINS).", {"origin": request_headers.get("origin")}, headers)
