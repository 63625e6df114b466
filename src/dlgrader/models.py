"""Pydantic types shared by every entry point: the question bank, grade results and feedback."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Difficulty = Literal["beginner", "intermediate", "advanced"]
Verdict = Literal["covered", "partial", "missing", "contradicted"]
Status = Literal["graded", "unknown_question", "invalid"]

TOPICS: dict[str, str] = {
    "fundamentals": "Neurons, layers, forward and backward propagation, loss functions",
    "activations": "Activation functions and non-linearity",
    "optimisation": "Gradient descent, optimisers, learning rate, gradient problems",
    "regularisation": "Overfitting, dropout, weight penalties, normalisation, augmentation",
    "training_practice": "Epochs, batches, hyperparameters, frameworks, training workflow",
    "cnn": "Convolutional networks, kernels, padding, pooling, vision tasks",
    "sequence_models": "RNNs, LSTMs, GRUs, backpropagation through time",
    "attention_transformers": "Attention, self-attention and Transformer models",
    "generative_models": "GANs, autoencoders, diffusion and other generative models",
    "transfer_learning": "Transfer learning, pre-training and fine-tuning",
    "evaluation": "Metrics, validation and model evaluation",
    "nlp": "Language tasks, embeddings and text models",
    "llm_systems": "Large language models and systems built on them",
    "deployment_ethics": "Deployment, interpretability, bias and ethics",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class KeyPoint(_Strict):
    """One atomic, self-contained fact a good answer should state."""

    text: str = Field(min_length=3)
    source: str | None = Field(None, description="File name of the source article, if any.")
    excerpt: str | None = Field(None, description="Verbatim passage of the source supporting the fact.")


class SourceRef(_Strict):
    """Where a question and its facts come from."""

    document: str = Field(min_length=1)
    locator: str = Field(min_length=1, description="Q20 | 30. | TOC 7 | paragraph N")
    excerpt: str = Field(min_length=1, description="Verbatim text of the document.")


class Question(_Strict):
    """A canonical question of the bank."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=120)
    question: str = Field(min_length=3)
    aliases: list[str] = Field(default_factory=list)
    topic: str = "general"
    difficulty: Difficulty = "intermediate"
    reference_answer: str = Field(min_length=1)
    key_points: list[KeyPoint] = Field(min_length=1)
    sources: list[SourceRef] = Field(default_factory=list)

    @property
    def documents(self) -> list[str]:
        return sorted({s.document for s in self.sources})


class ExcludedItem(_Strict):
    """A question of a source article that is not in the bank, and why."""

    document: str
    locator: str
    question: str | None = None
    reason: str = Field(min_length=3)


# ---------------------------------------------------------------- grading results


class Evidence(BaseModel):
    """The span of the answer that best supports a key point (character offsets into the answer)."""

    text: str
    start: int
    end: int


class KeyPointResult(BaseModel):
    """How well the answer covers one key point, and the span behind that judgement."""

    index: int
    text: str
    verdict: Verdict
    similarity: float = Field(description="Cosine similarity of the key point and its best span.")
    credit: float = Field(description="Share of the key point's weight earned (0, 0.5 or 1).")
    evidence: Evidence | None = None
    note: str | None = None


class Flag(BaseModel):
    """Something about the answer that makes it look better than it is (or unusable)."""

    code: Literal[
        "empty", "too_short", "keyword_list", "question_echo", "off_topic", "contradiction",
        "truncated", "injection_attempt", "copied_reference",
    ]
    message: str
    penalty: float = Field(0.0, description="Points subtracted from the 0-100 score for this flag.")
    details: dict[str, object] = Field(default_factory=dict)


class Suggestion(BaseModel):
    """A nearby question of the bank, offered when the question asked is not recognised."""

    question_id: str
    question: str
    similarity: float


class ScoreBreakdown(BaseModel):
    """Every number between the key-point credits and the final score."""

    coverage: float = Field(description="Weighted share of key points covered, 0-1.")
    raw_score: float = Field(description="100 x coverage, before flags.")
    penalties: float = Field(description="Sum of the flags' penalties.")
    cap: float | None = Field(None, description="A ceiling a flag put on the score, if any.")
    calibrated: bool = False


class GradeResult(BaseModel):
    """The outcome of grading one answer; the same shape from the CLI, the API and batch runs."""

    status: Status
    id: str | None = Field(None, description="The caller's id for this answer (batch runs).")
    question_id: str | None = None
    question: str | None = None
    match_confidence: float | None = None
    matched_by: Literal["id", "text"] | None = None
    score: float | None = Field(None, description="0-100")
    grade: float | None = Field(None, description="0-5 in steps of 0.5")
    key_points: list[KeyPointResult] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    breakdown: ScoreBreakdown | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)
    summary: str = ""
    error: str | None = None
    label: float | str | None = Field(None, description="Human label passed through from the input.")
    feedback: dict[str, object] | None = None
    calibrated_score: float | None = Field(None, description="The score mapped to the user's own scale by a "
                                           "calibration (`dlgrader calibrate`); absent without one.")
    calibrated_scale: str | None = Field(None, description="The range of calibrated_score, e.g. '0-5'.")

    @property
    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]
