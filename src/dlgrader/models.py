"""Pydantic types shared by every entry point: the question bank, grade results and feedback."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

Difficulty = Literal["beginner", "intermediate", "advanced"]
Verdict = Literal["covered", "partial", "missing", "contradicted"]
Status = Literal["graded", "unknown_question", "invalid"]

TOPICS: dict[str, str] = {
    "foundations": "What deep learning is, AI vs ML vs DL, learning paradigms, data, applications and trends",
    "neural_network_basics": "Neurons, perceptrons, MLPs, layers, network types, depth, weights and biases",
    "training_mechanics": "Forward and backward propagation, computational graphs, losses, initialisation",
    "activations": "Activation functions and non-linearity",
    "optimisation": "Gradient descent, optimisers, learning rate, vanishing and exploding gradients",
    "regularisation": "Over- and underfitting, bias-variance, dropout, weight penalties, normalisation, augmentation",
    "training_practice": "Epochs and batches, hyperparameters, frameworks and code, imbalanced data, validation",
    "evaluation": "Metrics, confusion matrix, ROC and AUC",
    "cnn": "Convolution, kernels, padding, stride, pooling, CNN architectures, vision tasks",
    "sequence_models": "RNN, LSTM, GRU, backpropagation through time, encoder-decoder models",
    "attention_transformers": "Attention, Transformers, positional encoding, BERT and GPT",
    "generative_models": "Autoencoders, VAEs, GANs, diffusion, discriminative vs generative models",
    "transfer_learning": "Transfer learning, fine-tuning, pre-training, self-supervision, multi-task, distillation",
    "nlp": "Text processing, embeddings and NLP tasks",
    "llm_systems": "Large language models, retrieval-augmented generation, prompting",
    "reinforcement_learning": "Deep Q-networks and reinforcement learning",
    "advanced_architectures": "Capsule networks, graph networks, Bayesian deep learning",
    "deployment_ethics": "Deployment, saving and serving models, explainability, bias and ethics",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Weight = Literal["core", "supporting"]


class Editorial(_Strict):
    """Where the bank corrects its source: why, and what the source says."""

    reason: str = Field(min_length=3)
    source_says: str | None = None


class PointRef(_Strict):
    """One curated fact of an article behind a key point (``002:L10:3``: article, curated line, point)."""

    ref: str
    document: str
    excerpt: str


class KeyPoint(_Strict):
    """One atomic, self-contained fact a good answer should state."""

    text: str = Field(min_length=3)
    weight: Weight = Field("core", description="core: a complete answer states it; supporting: depth.")
    source: str | None = Field(None, description="File name of the source article, if any.")
    excerpt: str | None = Field(None, description="Verbatim passage of the source supporting the fact.")
    refs: list[PointRef] = Field(default_factory=list, description="Every curated fact the point merges.")
    editorial: Editorial | None = Field(None, description="Set where the point corrects its source.")


class Misconception(_Strict):
    """A wrong belief candidates hold (editorial content), the key point it denies and the correction."""

    text: str = Field(min_length=3)
    contradicts: int | None = Field(None, ge=0, description="Index of the key point it denies, if any.")
    correction: str = Field(min_length=3)
    editorial: bool = True


class SourceRef(_Strict):
    """Where a question and its facts come from."""

    document: str = Field(min_length=1)
    locator: str = Field(min_length=1, description="Q20 | 30. | TOC 7 | paragraph N")
    excerpt: str = Field(min_length=1, description="Verbatim text of the document.")
    title: str | None = Field(None, description="The article's title, for people.")

    @property
    def label(self) -> str:
        """"<title>, Q20" when the title is known, else the file name and locator."""
        return f"{self.title or self.document}, {self.locator}"


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
    misconceptions: list[Misconception] = Field(default_factory=list)
    replaces: list[str] = Field(default_factory=list, description="Former ids merged into this entry.")

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


class MisconceptionMatch(BaseModel):
    """A misconception of the bank that the answer states, where, and what is correct instead."""

    text: str
    correction: str
    evidence: Evidence
    similarity: float


class KeyPointResult(BaseModel):
    """How well the answer covers one key point, and the span behind that judgement."""

    index: int
    text: str
    verdict: Verdict
    similarity: float = Field(description="Similarity of the key point and its best span: 0.6 x cosine + 0.4 x "
                              "the share of the key point's own words the span repeats.")
    credit: float = Field(description="Share of the key point earned, 0-1 (partial credit rises from 0.25 to "
                          "0.75 across the partial band).")
    evidence: Evidence | None = None
    note: str | None = None
    weight: Weight = "core"
    misconception: MisconceptionMatch | None = Field(None, description="A known wrong belief the answer states "
                                                     "against this point, with its correction.")


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


class FeedbackStatement(BaseModel):
    """One sentence of LLM feedback, with the reference excerpts it cites and how well they support it."""

    text: str
    refs: list[str] = Field(default_factory=list)
    support: float | None = None


class Feedback(BaseModel):
    """LLM feedback on one answer: verified and rescored, or ``available: false`` with the reason.

    The score here is the judge-adjusted one; the engine's own score stays in the result (``engine_score``
    repeats it). ``key_points`` lists the judge's label changes, ``verification`` what was removed or voided.
    """

    available: bool
    reason: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    cache: str | None = None
    attempts: int | None = None
    score: float | None = None
    grade: float | None = None
    engine_score: float | None = None
    breakdown: ScoreBreakdown | None = None
    key_points: list[dict[str, object]] = Field(default_factory=list)
    flags: list[dict[str, object]] = Field(default_factory=list)
    strengths: list[FeedbackStatement] = Field(default_factory=list)
    gaps: list[FeedbackStatement] = Field(default_factory=list)
    suggestion: FeedbackStatement | None = None
    references: list[dict[str, object]] = Field(default_factory=list)
    verification: dict[str, object] = Field(default_factory=dict)
    injection_cues: list[str] = Field(default_factory=list)
    usage: dict[str, int] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _drop_empty_when_unavailable(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without feedback there is no score, no labels, no sentences: only why, and what was tried."""
        data: dict[str, Any] = handler(self)
        if not self.available:
            data = {k: v for k, v in data.items() if v not in (None, [], {})}
        return data


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
    misconceptions: list[MisconceptionMatch] = Field(default_factory=list, description="Known wrong beliefs "
                                                     "the answer states, with their corrections.")
    breakdown: ScoreBreakdown | None = None
    suggestions: list[Suggestion] = Field(default_factory=list)
    summary: str = ""
    error: str | None = None
    label: float | str | None = Field(None, description="Human label passed through from the input.")
    answer: str | None = Field(None, description="The answer graded (batch results carry it, so that a "
                               "report can show it with its evidence spans); null in API responses.")
    feedback: Feedback | None = Field(None, description="LLM feedback, when asked for (or why there is none).")
    calibrated_score: float | None = Field(None, description="The score mapped to the user's own scale by a "
                                           "calibration (`dlgrader calibrate`); absent without one.")
    calibrated_scale: str | None = Field(None, description="The range of calibrated_score, e.g. '0-5'.")

    @property
    def flag_codes(self) -> list[str]:
        return [f.code for f in self.flags]
