"""sentence-transformers backend: the reference implementation, and the way to use any local model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dlgrader.embedding.base import Embedder, TokenEmbeddings, l2_normalise
from dlgrader.errors import EmbeddingError


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model loaded from a local directory, never from a hub."""

    backend = "sentence-transformers"

    def __init__(self, *, model_dir: Path, model_id: str, threads: int = 0) -> None:
        # Loading from a directory must never fall back to a download: air-gapped users get a clear error.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        if not (model_dir / "config.json").is_file() and not (model_dir / "modules.json").is_file():
            raise EmbeddingError(f"{model_dir} is not a sentence-transformers model directory")
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - hard dependencies
            raise EmbeddingError(f"the sentence-transformers backend needs torch: {exc}") from exc
        if threads:
            torch.set_num_threads(threads)
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # no weight-loading bars on the user's terminal
        except ImportError:  # pragma: no cover
            pass
        try:
            self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EmbeddingError(f"cannot load the model in {model_dir}: {exc}") from exc
        self.model_id = model_id
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = getter()
        if dim is None:
            raise EmbeddingError(f"{model_dir} does not declare an embedding dimension")
        self.dim = int(dim)

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, batch_size=len(texts), convert_to_numpy=True, normalize_embeddings=False,
            show_progress_bar=False,
        )
        return l2_normalise(np.asarray(vectors, dtype=np.float32))

    def _encode_tokens(self, texts: list[str]) -> list[TokenEmbeddings]:
        import torch

        transformer: Any = self._model[0]
        batch = transformer.tokenizer(
            texts, padding=True, truncation=True, max_length=self._model.max_seq_length,
            return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt",
        )
        offsets = batch.pop("offset_mapping").numpy()
        special = batch.pop("special_tokens_mask").numpy().astype(bool)
        with torch.inference_mode():
            hidden = transformer.auto_model(**batch).last_hidden_state.numpy()
        mask = batch["attention_mask"].numpy()
        out = []
        for row in range(len(texts)):
            n = int(mask[row].sum())
            out.append(TokenEmbeddings(vectors=hidden[row, :n].astype(np.float32),
                                       offsets=offsets[row, :n].astype(np.int64), special=special[row, :n]))
        return out
