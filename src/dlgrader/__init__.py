"""dlgrader: grade free-text answers to deep-learning interview questions against a sourced bank.

The public surface, for developers who call dlgrader from their own tools::

    from dlgrader import Grader, GradeRequest, get_settings

    grader = Grader.from_settings(get_settings())
    result = grader.grade("Dropout switches off random neurons while training.", question_id="dropout")
    print(result.score, [kp.verdict for kp in result.key_points])

Everything else is private to the package and may change. Names are imported on first use, so
``import dlgrader`` (and ``dlgrader --help``) loads no model and no numerical library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Grader": "dlgrader.service",
    "GradeRequest": "dlgrader.service",
    "BackgroundLoader": "dlgrader.loader",
    "Bank": "dlgrader.corpus.loader",
    "load_bank": "dlgrader.corpus.loader",
    "Settings": "dlgrader.config",
    "get_settings": "dlgrader.config",
    "Thresholds": "dlgrader.grading",
    "FlagPolicy": "dlgrader.policy",
    "GradeResult": "dlgrader.models",
    "KeyPointResult": "dlgrader.models",
    "Evidence": "dlgrader.models",
    "Flag": "dlgrader.models",
    "Feedback": "dlgrader.models",
    "Question": "dlgrader.models",
    "KeyPoint": "dlgrader.models",
    "DlgraderError": "dlgrader.errors",
    "ConfigError": "dlgrader.errors",
    "CorpusError": "dlgrader.errors",
    "InputError": "dlgrader.errors",
    "FeedbackError": "dlgrader.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from dlgrader.config import Settings, get_settings  # noqa: F401
    from dlgrader.corpus.loader import Bank, load_bank  # noqa: F401
    from dlgrader.errors import ConfigError, CorpusError, DlgraderError, FeedbackError, InputError  # noqa: F401
    from dlgrader.grading import Thresholds  # noqa: F401
    from dlgrader.loader import BackgroundLoader  # noqa: F401
    from dlgrader.models import Evidence, Feedback, Flag, GradeResult, KeyPoint, KeyPointResult, Question  # noqa: F401
    from dlgrader.policy import FlagPolicy  # noqa: F401
    from dlgrader.service import Grader, GradeRequest  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dlgrader' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
