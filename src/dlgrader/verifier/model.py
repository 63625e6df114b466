"""The shipped verifier at run time: an int8 ONNX cross-encoder and its tokenizer, on onnxruntime.

The grading code sees probabilities only (``Verifier.predict``), never tokenizers or sessions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlgrader.errors import VerifierError
from dlgrader.verifier.data import LABELS

MODEL_FILE = "model.int8.onnx"
MAX_TOKENS = 128  # the training length: premise and hypothesis together
BATCH = 8  # small calls: pairs of one answer are sorted by length, so each call pads little


class Verifier:
    """Says whether a premise entails, contradicts or is neutral to a hypothesis."""

    def __init__(self, directory: Path, *, threads: int = 0) -> None:
        try:
            from tokenizers import Tokenizer

            from dlgrader.embedding.onnx import cpu_session
        except ImportError as exc:  # pragma: no cover - both are hard dependencies
            raise VerifierError(f"the verifier needs onnxruntime and tokenizers: {exc}") from exc
        model_file, tokenizer_file = directory / MODEL_FILE, directory / "tokenizer.json"
        if not model_file.is_file() or not tokenizer_file.is_file():
            raise VerifierError(f"no verifier model in {directory} (rebuild it: dlgrader verifier train)")
        try:
            self.manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise VerifierError(f"unreadable verifier manifest in {directory}: {exc}") from exc
        if list(self.manifest.get("labels", [])) != list(LABELS):
            raise VerifierError(f"the verifier in {directory} has labels {self.manifest.get('labels')}, "
                                f"expected {list(LABELS)}")
        self._session = cpu_session(model_file, threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first")
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer = tokenizer
        self.directory = directory

    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """(n, 3) probabilities in ``LABELS`` order (entailment, contradiction, neutral)."""
        if not pairs:
            return np.zeros((0, len(LABELS)), np.float32)
        # Similar lengths share a call (less padding: a whole answer's pair is three times a sentence's). The
        # order depends only on the pairs given, so the same pairs always get the same probabilities.
        order = sorted(range(len(pairs)), key=lambda k: len(pairs[k][0]) + len(pairs[k][1]))
        out = []
        for start in range(0, len(order), BATCH):
            chunk = [pairs[k] for k in order[start:start + BATCH]]
            encodings = self._tokenizer.encode_batch(chunk)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": np.array([e.attention_mask for e in encodings],
                                                                   dtype=np.int64)}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
            logits = self._session.run(None, feeds)[0]
            logits = logits - logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            out.append(probs / probs.sum(axis=1, keepdims=True))
        result = np.empty((len(pairs), len(LABELS)), np.float32)
        result[order] = np.concatenate(out)
        return result


_cache: dict[tuple[str, int], Verifier] = {}
_lock = threading.Lock()


def load_verifier(directory: Path, *, threads: int = 0) -> Verifier:
    """The verifier in ``directory``, loaded once per process."""
    key = (str(directory.resolve()), threads)
    with _lock:
        if key not in _cache:
            _cache[key] = Verifier(directory, threads=threads)
        return _cache[key]
