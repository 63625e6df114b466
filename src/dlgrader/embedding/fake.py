"""A deterministic fake embedder for fast unit tests of pure logic (never used by a user path)."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from dlgrader.corpus.text import STOPWORDS, stem
from dlgrader.embedding.base import Embedder, TokenEmbeddings, l2_normalise

_WORD = re.compile(r"[a-z0-9]+")


class FakeEmbedder(Embedder):
    """Bag of hashed word stems: texts sharing content words get similar vectors."""

    backend = "fake"
    model_id = "fake-hash-bow"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _word_vector(self, word: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        if word not in STOPWORDS:
            digest = hashlib.blake2b(stem(word).encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "little") % self.dim] = 1.0
        return vec

    def _encode_tokens(self, texts: list[str]) -> list[TokenEmbeddings]:
        out = []
        for text in texts:
            matches = list(_WORD.finditer(text.lower()))
            vectors = [self._word_vector(m.group()) for m in matches] or [np.zeros(self.dim, np.float32)]
            offsets = [(m.start(), m.end()) for m in matches] or [(0, 0)]
            out.append(TokenEmbeddings(vectors=np.array(vectors, dtype=np.float32),
                                       offsets=np.array(offsets, dtype=np.int64),
                                       special=np.zeros(len(vectors), dtype=bool) if matches
                                       else np.ones(1, dtype=bool)))
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        return l2_normalise(np.array([t.vectors.sum(axis=0) for t in self._encode_tokens(texts)]))
