"""Attach optional LLM feedback to graded results (the seam the CLI, API, batch and practice call).

Placeholder until the LLM feedback module lands: it reports feedback as unavailable, never fails.
"""

from __future__ import annotations

from dlgrader.models import GradeResult
from dlgrader.service import Grader


def attach_feedback(grader: Grader, results: list[GradeResult], answers: list[str]) -> None:
    """Set ``result.feedback`` on every graded result (an 'unavailable' record when offline)."""
    for result in results:
        if result.status == "graded":
            result.feedback = {"available": False, "reason": "LLM feedback is not configured (offline mode)"}
