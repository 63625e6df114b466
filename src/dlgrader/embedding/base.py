"""The embedder interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TokenEmbeddings:
    """Contextual token vectors of one text and each token's character span in that text.

    Pooling these over a character range gives a span embedding without a second forward pass: the
    grader encodes each sentence once and reads clause embeddings out of the same token vectors.
    Special tokens ([CLS], [SEP]) have ``special`` set and take part only in whole-text pooling.
    """

    vectors: np.ndarray  # (n_tokens, dim) float32, not normalised
    offsets: np.ndarray  # (n_tokens, 2) int, character [start, end) of each token
    special: np.ndarray  # (n_tokens,) bool

    def pool(self, start: int | None = None, end: int | None = None) -> np.ndarray | None:
        """Mean of the token vectors inside [start, end) (all tokens when no range), L2-normalised."""
        if start is None or end is None:
            chosen = self.vectors
        else:
            inside = (~self.special) & (self.offsets[:, 0] >= start) & (self.offsets[:, 1] <= end)
            if not inside.any():
                return None
            chosen = self.vectors[inside]
        mean = chosen.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return (mean / norm).astype(np.float32) if norm > 0 else None


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors, so a dot product is a cosine similarity.

    ``model_id`` and ``backend`` go into the index manifest: vectors from different models or
    backends are never mixed in one index.
    """

    model_id: str
    backend: str
    dim: int

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Encode a non-empty list of texts into an (n, dim) float32 array (normalised)."""

    @abstractmethod
    def _encode_tokens(self, texts: list[str]) -> list[TokenEmbeddings]:
        """Token vectors and character offsets of a non-empty list of texts."""

    def encode_tokens(self, texts: Sequence[str], *, batch_size: int = 32) -> list[TokenEmbeddings]:
        """Token-level encoding in length-sorted batches (the order of ``texts`` is kept)."""
        items = list(texts)
        out: list[TokenEmbeddings | None] = [None] * len(items)
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            for i, tokens in zip(idx, self._encode_tokens([items[i] for i in idx]), strict=True):
                out[i] = tokens
        return [t for t in out if t is not None]

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Encode texts in batches; an empty input gives an empty (0, dim) array."""
        items = list(texts)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch; the order is restored after.
        order = sorted(range(len(items)), key=lambda i: len(items[i]))
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._encode([items[i] for i in idx])
        return out


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation that leaves all-zero rows at zero."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
