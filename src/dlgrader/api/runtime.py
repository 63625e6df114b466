"""The bounded thread pool that CPU-bound grading and LLM feedback run in, off the event loop. (The Grader
itself is loaded by ``dlgrader.loader.BackgroundLoader``.)"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import anyio
from anyio import to_thread

from dlgrader.models import GradeResult
from dlgrader.service import Grader, GradeRequest

# Big batches are graded in chunks so single requests get a turn in between.
CHUNK = 16


class GradingPool:
    """Runs grading in worker threads, at most ``grading_concurrency`` at a time; LLM feedback (I/O bound)
    has its own limit so a slow LLM never holds up grading."""

    def __init__(self, *, grading_concurrency: int, feedback_concurrency: int) -> None:
        self._grading = anyio.CapacityLimiter(grading_concurrency)
        self._feedback = anyio.CapacityLimiter(feedback_concurrency)

    async def grade(self, grader: Grader, requests: Sequence[GradeRequest], *,
                    feedback: bool = False) -> list[GradeResult]:
        """Grade in worker threads. Requests with ``feedback`` run under the feedback limit instead, since
        they mostly wait on the LLM (the Grader turns any failure of it into an 'unavailable' record)."""
        results: list[GradeResult] = []
        for start in range(0, len(requests), CHUNK):
            chunk = list(requests[start:start + CHUNK])
            if feedback:
                results += await to_thread.run_sync(partial(grader.grade_many, chunk, feedback=True),
                                                    limiter=self._feedback)
            else:
                results += await to_thread.run_sync(grader.grade_many, chunk, limiter=self._grading)
        return results
