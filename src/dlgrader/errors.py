"""Domain errors. The core raises these; the CLI and the HTTP API translate them once, at the edge.

    DlgraderError
    ├── ConfigError            a setting has an unusable value
    ├── CorpusError            the question bank cannot be read
    │   ├── CorpusValidationError   the bank breaks a rule (carries every problem found)
    │   └── BankQueryError          a filter names a topic or source the bank does not have
    ├── EmbeddingError         the embedding model cannot be loaded or run
    ├── VerifierError          the verifier model cannot be loaded or trained
    ├── IndexError_            the FAISS index cannot be built, read or matched to the corpus
    ├── InputError             a user input (answer, batch line, file) is unusable
    ├── CalibrationError       a calibration cannot be fitted or applied
    ├── ProgressStoreError     the practice database cannot be opened or migrated
    │   ├── AttemptNotFound         no such attempt (for this learner)
    │   └── RatingLocked            the attempt's rating can no longer change
    └── FeedbackError          LLM feedback could not be produced
        ├── FeedbackUnavailable     no endpoint configured, or the endpoint failed
        └── FeedbackOutputError     the model's output stayed invalid after the allowed retries
"""

from __future__ import annotations


class DlgraderError(Exception):
    """Base of every error dlgrader raises on purpose."""


class ConfigError(DlgraderError):
    """A setting has an unusable value."""


class CorpusError(DlgraderError):
    """The question bank cannot be read."""


class CorpusValidationError(CorpusError):
    """The question bank breaks one or more rules; ``problems`` lists each with its location."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        head = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{len(problems)} problem(s) in the question bank: {head}{more}")


class BankQueryError(CorpusError):
    """A bank filter names something the bank does not have; ``field`` and ``known`` say what and what is."""

    def __init__(self, message: str, *, field: str, known: list[str]) -> None:
        self.field = field
        self.known = known
        super().__init__(message)


class EmbeddingError(DlgraderError):
    """The embedding model cannot be loaded or run."""


class VerifierError(DlgraderError):
    """The correctness verifier cannot be loaded, run or trained."""


class IndexError_(DlgraderError):  # noqa: N801 - avoid shadowing the builtin IndexError
    """The FAISS index cannot be built, read, or matched to the corpus."""


class InputError(DlgraderError):
    """A user input is unusable (empty answer, unknown question id, unreadable file...)."""


class CalibrationError(DlgraderError):
    """A calibration cannot be fitted or applied."""


class ProgressStoreError(DlgraderError):
    """The practice progress database cannot be opened or migrated."""


class AttemptNotFound(ProgressStoreError):
    """No practice attempt with this id belongs to this learner."""


class RatingLocked(ProgressStoreError):
    """The attempt's rating can no longer change: its card has been reviewed again since."""


class FeedbackError(DlgraderError):
    """LLM feedback could not be produced."""


class FeedbackUnavailable(FeedbackError):
    """No LLM endpoint is configured, or the endpoint failed after retries."""


class FeedbackOutputError(FeedbackError):
    """The model's output stayed invalid after the allowed retries."""
