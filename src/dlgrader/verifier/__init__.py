"""The correctness verifier: a small cross-encoder that tells whether a span of an answer entails, contradicts
or is neutral to a key point. Trained from ``corpus/verifier/`` (``train``), shipped as int8 ONNX under
``models/verifier/`` (``model``), read by the grader as probabilities only."""

from __future__ import annotations

from dlgrader.verifier.data import LABELS
from dlgrader.verifier.model import Verifier, load_verifier

__all__ = ["LABELS", "Verifier", "load_verifier"]
