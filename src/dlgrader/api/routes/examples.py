"""Response examples shown in the OpenAPI docs (real outputs of the engine, trimmed)."""

from __future__ import annotations

from typing import Any

GRADED: dict[str, Any] = {
    "status": "graded", "id": None, "question_id": "dropout",
    "question": "What is dropout and how does it work?",
    "match_confidence": 1.0, "matched_by": "id", "score": 100.0, "grade": 5.0,
    "key_points": [
        {"index": 0, "text": "Dropout randomly deactivates a fraction of neurons during each training step.",
         "verdict": "covered", "similarity": 0.8855, "credit": 1.0, "note": None,
         "evidence": {"text": "Dropout randomly switches off a fraction of the neurons at each training step",
                      "start": 0, "end": 77}},
        {"index": 1, "text": "Dropout prevents neurons from co-adapting too strongly.", "verdict": "covered",
         "similarity": 0.764, "credit": 1.0, "note": None, "evidence": None},
    ],
    "flags": [],
    "breakdown": {"coverage": 1.0, "raw_score": 100.0, "penalties": 0.0, "cap": None, "calibrated": False},
    "suggestions": [], "summary": "Score 100/100 (grade 5/5): covered 8 of 8 key points.", "error": None,
    "label": None,
    "feedback": {"available": False, "reason": "LLM feedback is not configured (offline mode)"},
}

UNKNOWN: dict[str, Any] = {
    "status": "unknown_question", "id": "a2", "question_id": None, "question": None,
    "match_confidence": 0.0602, "matched_by": "text", "score": None, "grade": None, "key_points": [],
    "flags": [], "breakdown": None,
    "suggestions": [{"question_id": "neuron", "question": "What is a neuron in a neural network?",
                     "similarity": 0.0602}],
    "summary": "This question is not covered by the question bank, so the answer was not scored. "
               "Nearest: 'What is a neuron in a neural network?'.",
    "error": None, "label": None, "feedback": None,
}

QUESTION_SUMMARY: dict[str, Any] = {
    "id": "dropout", "question": "What is dropout and how does it work?",
    "aliases": ["What is Dropout in Neural Networks?"], "topic": "regularisation", "difficulty": "beginner",
    "documents": ["000_984f2830a633304f.txt", "001_5c83a72077dff821.txt"], "key_point_count": 8,
}

_FACT = "Dropout randomly deactivates a fraction of neurons during each training step."
QUESTION_DETAIL: dict[str, Any] = {
    **QUESTION_SUMMARY,
    "reference_answer": "Dropout randomly deactivates a fraction of neurons during each training step. ...",
    "key_points": [{"text": _FACT, "source": "000_984f2830a633304f.txt", "excerpt": _FACT}],
    "sources": [{"document": "000_984f2830a633304f.txt", "locator": "Q20", "excerpt": _FACT}],
}


def ok(example: Any, description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """A 200 response entry with one example, for a route's ``responses=``."""
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}
