"""What the app holds while it runs: the ``Grader`` (loaded once, in the background) and the bounded
thread pool that CPU-bound grading and LLM feedback run in, off the event loop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

import anyio
from anyio import to_thread

from dlgrader.config import Settings
from dlgrader.errors import DlgraderError, FeedbackError
from dlgrader.models import GradeResult
from dlgrader.service import Grader, GradeRequest

log = logging.getLogger(__name__)

LoadState = Literal["loading", "ready", "failed"]

# Big batches are graded in chunks so single requests get a turn in between.
CHUNK = 16


class GraderHolder:
    """Loads the Grader once in a background thread, so the server answers /healthz while it loads."""

    def __init__(self, load: Callable[[], Grader]) -> None:
        self._load = load
        self._grader: Grader | None = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="dlgrader-load", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._grader = self._load()
        except DlgraderError as exc:
            self._error = str(exc)
            log.error("the model and index could not be loaded: %s", exc)
            return
        except Exception as exc:  # a thread's exception would vanish; record it so /readyz says why
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("the model and index could not be loaded")
            return
        log.info("ready: %d questions loaded in %.1f s", len(self._grader.bank),
                 time.perf_counter() - started, extra={"event": "ready"})

    def wait(self, timeout: float | None = None) -> None:
        """Block until loading ends (for callers that want a loaded grader, e.g. benchmarks)."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def state(self) -> LoadState:
        if self._grader is not None:
            return "ready"
        return "failed" if self._error is not None else "loading"

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def grader(self) -> Grader | None:
        return self._grader


class GradingPool:
    """Runs grading in worker threads, at most ``grading_concurrency`` at a time; LLM feedback (I/O bound)
    has its own limit so a slow LLM never holds up grading."""

    def __init__(self, *, grading_concurrency: int, feedback_concurrency: int) -> None:
        self._grading = anyio.CapacityLimiter(grading_concurrency)
        self._feedback = anyio.CapacityLimiter(feedback_concurrency)

    async def grade(self, grader: Grader, requests: Sequence[GradeRequest]) -> list[GradeResult]:
        results: list[GradeResult] = []
        for start in range(0, len(requests), CHUNK):
            chunk = list(requests[start:start + CHUNK])
            results += await to_thread.run_sync(grader.grade_many, chunk, limiter=self._grading)
        return results

    async def add_feedback(self, grader: Grader, results: list[GradeResult], answers: list[str],
                           settings: Settings) -> None:
        """Attach LLM feedback; when it cannot be had, each graded result says so (never an error)."""
        await to_thread.run_sync(_feedback_or_unavailable, grader, results, answers, settings,
                                 limiter=self._feedback)


def _feedback_or_unavailable(grader: Grader, results: list[GradeResult], answers: list[str],
                             settings: Settings) -> None:
    from dlgrader.feedback_runner import attach_feedback

    try:
        attach_feedback(grader, results, answers, settings=settings)
        return
    except FeedbackError as exc:
        reason = str(exc)
    except Exception as exc:  # feedback is an extra: a failing LLM client must not fail the grade
        log.exception("LLM feedback failed")
        reason = f"LLM feedback failed ({type(exc).__name__})"
    for result in results:
        if result.status == "graded" and result.feedback is None:
            result.feedback = {"available": False, "reason": reason}
