"""Structured (JSON lines) logging for the service, with the request id of the request being served.

The request id lives in a context variable set by ``RequestContextMiddleware``; every log record written
while a request is served (in the event loop or in a worker thread) carries it.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("dlgrader_request_id", default=None)

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged as a field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # several workers write to one stream
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.dictConfig`` for uvicorn and dlgrader: JSON lines on stderr, uvicorn's access log off
    (the service writes its own, with the request id)."""
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "dlgrader": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


@dataclass(frozen=True)
class Suppressed:
    """What a ``RepeatSuppressor`` left out in one interval."""

    count: int
    identities: int
    top: list[tuple[str, int]]
    interval_s: float


class RepeatSuppressor:
    """Keeps a flood of similar log lines bounded: within each interval the first line per key is written
    (for at most ``max_keys`` keys) and the rest only counted; the count comes out once, as a
    ``Suppressed`` from ``flush`` (called with every request, so it appears with the first request after
    the interval). One client hammering the API thus costs two log lines a minute, not one per request.

    Not thread-safe: the middleware calls it from the event loop only.
    """

    def __init__(self, *, interval: float = 60.0, max_keys: int = 100,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._max_keys = max_keys
        self._clock = clock
        self._started = clock()
        self._seen: set[str] = set()
        self._dropped: Counter[str] = Counter()

    def admit(self, key: str) -> bool:
        """Whether to write this line: True for the first line of ``key`` in the interval."""
        if key not in self._seen and len(self._seen) < self._max_keys:
            self._seen.add(key)
            return True
        if key not in self._dropped and len(self._dropped) >= 100 * self._max_keys:
            key = "(others)"  # bounded memory under a flood from very many identities
        self._dropped[key] += 1
        return False

    def flush(self) -> Suppressed | None:
        """At the end of an interval: start the next and return what this one left out (None if nothing).
        ``top`` names the five keys with the most lines left out."""
        now = self._clock()
        if now - self._started < self.interval:
            return None
        elapsed, self._started = now - self._started, now
        dropped, self._dropped, self._seen = self._dropped, Counter(), set()
        if not dropped:
            return None
        return Suppressed(count=sum(dropped.values()), identities=len(dropped), top=dropped.most_common(5),
                          interval_s=round(elapsed, 1))
