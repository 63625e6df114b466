"""Build, persist, load and search the FAISS indexes of a question bank.

Three indexes, one row per text, all inner-product over L2-normalised vectors (so scores are cosines):

- ``questions``: each question's text, its aliases and the typed questions of ``corpus/matching/``, for
  matching a free-text question (with the ranker of ``match_ranker``, fitted at build time and saved as
  ``ranker.npz`` when the bank has typed questions enough to fit it);
- ``keypoints``: every key point, the units the grader scores an answer against;
- ``references``: reference answers and source excerpts, for telling an off-topic answer apart.

``manifest.json`` records the model, backend, corpus hash, dimension, counts and build time; an index whose
manifest does not match the bank and embedder in use is stale and is rebuilt (with a log line).
Up to ``HNSW_THRESHOLD`` rows an exact flat index is fastest; past it HNSW keeps search sub-linear.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dlgrader import __version__
from dlgrader.corpus.loader import Bank
from dlgrader.embedding import Embedder
from dlgrader.errors import IndexError_
from dlgrader.match_ranker import RANKER_VERSION, EntryTexts, MatchRanker, Vectors, fit_ranker

log = logging.getLogger(__name__)

INDEX_FORMAT = 3  # 2: misconception vectors; 3: typed questions and the match ranker
HNSW_THRESHOLD = 50_000
KINDS = ("questions", "keypoints", "references")  # searched with FAISS
LOOKUP_KINDS = ("misconceptions",)
RANKER_FILE = "ranker.npz"  # only looked up by question: vectors without a FAISS index


@dataclass(frozen=True)
class Row:
    """What one vector of an index stands for."""

    question_id: str
    text: str
    kind: str  # question | alias | keypoint | reference | excerpt
    position: int = 0  # the key point's index within its question


@dataclass
class Hit:
    row: Row
    score: float


def _rows(bank: Bank) -> dict[str, list[Row]]:
    rows: dict[str, list[Row]] = {kind: [] for kind in (*KINDS, *LOOKUP_KINDS)}
    for q in bank.questions:
        rows["questions"].append(Row(q.id, q.question, "question"))
        rows["questions"].extend(Row(q.id, alias, "alias") for alias in q.aliases)
    rows["questions"].extend(Row(t.expected, t.asked, "typed") for t in bank.typed if t.expected is not None)
    for q in bank.questions:
        rows["keypoints"].extend(Row(q.id, kp.text, "keypoint", i) for i, kp in enumerate(q.key_points))
        rows["references"].append(Row(q.id, q.reference_answer, "reference"))
        rows["references"].extend(Row(q.id, s.excerpt, "excerpt") for s in q.sources)
        rows["misconceptions"].extend(Row(q.id, m.text, "misconception", i) for i, m in enumerate(q.misconceptions))
    return rows


def _make_faiss(vectors: np.ndarray) -> Any:
    import faiss

    dim = vectors.shape[1]
    index: Any
    if len(vectors) >= HNSW_THRESHOLD:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 64
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class BankIndex:
    """The three FAISS indexes of a bank, their row tables, and the key-point vectors by question."""

    def __init__(self, manifest: dict[str, object], rows: dict[str, list[Row]],
                 indexes: dict[str, Any], vectors: dict[str, np.ndarray], ranker: MatchRanker | None = None) -> None:
        self.manifest = manifest
        self.rows = rows
        self._indexes = indexes
        self._vectors = vectors
        self._ranker = ranker
        self._ranker_file: Path | None = None  # a saved ranker, read on first use
        self._ranker_vectors: Vectors | None = None
        self._kp_slices: dict[str, slice] = {}
        self._mc_slices: dict[str, slice] = {}
        self._question_row: dict[str, int] = {}
        for slices, kind in ((self._kp_slices, "keypoints"), (self._mc_slices, "misconceptions")):
            for i, row in enumerate(rows[kind]):
                current = slices.get(row.question_id)
                slices[row.question_id] = slice(current.start if current else i, i + 1)
        for i, row in enumerate(rows["questions"]):
            if row.kind == "question":
                self._question_row[row.question_id] = i

    def search(self, kind: str, queries: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-k rows of one index for each query vector (best first)."""
        index = self._indexes[kind]
        k = min(k, len(self.rows[kind]))
        scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return [
            [Hit(self.rows[kind][j], float(s)) for s, j in zip(srow, irow, strict=True) if j >= 0]
            for srow, irow in zip(scores, ids, strict=True)
        ]

    def keypoint_vectors(self, question_id: str) -> np.ndarray:
        """The (n_key_points, dim) vectors of one question, in key-point order."""
        return self._vectors["keypoints"][self._kp_slices[question_id]]

    def misconception_vectors(self, question_id: str) -> np.ndarray:
        """The (n_misconceptions, dim) vectors of one question (possibly none), in the bank's order."""
        found = self._mc_slices.get(question_id)
        vectors = self._vectors["misconceptions"]
        return vectors[found] if found else np.zeros((0, vectors.shape[1]), np.float32)

    def question_vector(self, question_id: str) -> np.ndarray:
        return self._vectors["questions"][self._question_row[question_id]]

    @property
    def ranker(self) -> MatchRanker | None:
        """The match ranker, read on first use (grading by question id never needs it)."""
        if self._ranker is None and self._ranker_file is not None:
            path, self._ranker_file = self._ranker_file, None
            try:
                self._ranker = MatchRanker.load(path)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("cannot read the match ranker %s (%s): matching falls back to the term check; "
                            "`dlgrader index build --force` rebuilds it", path, exc)
        return self._ranker

    @ranker.setter
    def ranker(self, value: MatchRanker | None) -> None:
        self._ranker, self._ranker_file = value, None

    def ranker_vectors(self) -> Vectors:
        """The vectors the match ranker's features read, with each row's entry (built on first use)."""
        if self._ranker_vectors is None:
            ids = list(dict.fromkeys(r.question_id for r in self.rows["questions"] if r.kind == "question"))
            position = {qid: i for i, qid in enumerate(ids)}

            def owners(kind: str) -> np.ndarray:
                return np.array([position[r.question_id] for r in self.rows[kind]], dtype=np.int64)

            self._ranker_vectors = Vectors(
                questions=self._vectors["questions"], question_owner=owners("questions"),
                canonical_row=np.array([self._question_row[qid] for qid in ids], dtype=np.int64),
                keypoints=self._vectors["keypoints"], keypoint_owner=owners("keypoints"),
                references=self._vectors["references"], reference_owner=owners("references"), ids=ids)
        return self._ranker_vectors

    def reference_scores(self, vector: np.ndarray) -> dict[str, float]:
        """Best cosine of a vector against each question's reference texts (exact, all questions)."""
        scores = self._vectors["references"] @ vector
        best: dict[str, float] = {}
        for row, score in zip(self.rows["references"], scores, strict=True):
            if score > best.get(row.question_id, -2.0):
                best[row.question_id] = float(score)
        return best

    def save(self, directory: Path) -> None:
        """Write the index atomically: a temporary folder is filled, then swapped in."""
        import faiss

        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp"))
        try:
            for kind in KINDS:
                faiss.write_index(self._indexes[kind], str(tmp / f"{kind}.faiss"))
            for kind in (*KINDS, *LOOKUP_KINDS):
                np.save(tmp / f"{kind}.npy", self._vectors[kind])
            (tmp / "rows.json").write_text(json.dumps(
                {kind: [r.__dict__ for r in rows] for kind, rows in self.rows.items()}), encoding="utf-8")
            if self.ranker is not None:
                self.ranker.save(tmp / RANKER_FILE)
            (tmp / "manifest.json").write_text(json.dumps(self.manifest, indent=2), encoding="utf-8")
            directory.mkdir(parents=True, exist_ok=True)
            for file in tmp.iterdir():  # manifest last: a reader never sees a new manifest with old files
                if file.name != "manifest.json":
                    os.replace(file, directory / file.name)
            os.replace(tmp / "manifest.json", directory / "manifest.json")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> BankIndex:
        import faiss

        try:
            manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
            raw_rows = json.loads((directory / "rows.json").read_text(encoding="utf-8"))
            rows = {kind: [Row(**r) for r in raw_rows[kind]] for kind in (*KINDS, *LOOKUP_KINDS)}
            indexes = {kind: faiss.read_index(str(directory / f"{kind}.faiss")) for kind in KINDS}
            vectors = {kind: np.load(directory / f"{kind}.npy") for kind in (*KINDS, *LOOKUP_KINDS)}
            if manifest.get("ranker") and not (directory / RANKER_FILE).is_file():
                raise ValueError(f"{RANKER_FILE} is missing")
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise IndexError_(f"cannot read the index in {directory}: {exc}") from exc
        index = cls(manifest, rows, indexes, vectors)
        if manifest.get("ranker"):
            index._ranker_file = directory / RANKER_FILE
        return index


def expected_manifest(bank: Bank, embedder: Embedder) -> dict[str, object]:
    """The manifest fields an index must carry to be used with this bank and embedder (another scikit-learn
    version refits the ranker: its trees could differ)."""
    return {"format": INDEX_FORMAT, "model": embedder.model_id, "backend": embedder.backend,
            "dim": embedder.dim, "corpus_hash": bank.content_hash, "scikit_learn": _sklearn_version(),
            "ranker_version": RANKER_VERSION}


def _sklearn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:
        return "none"


def _fit_ranker(bank: Bank, embedder: Embedder, index: BankIndex) -> MatchRanker | None:
    """Every alias and typed question as a query with its own row left out, and the out-of-bank typed
    questions; None when the bank has too few to fit honestly (matching then uses the term check)."""
    queries: list[tuple[str, np.ndarray, str | None, int | None]] = [
        (row.text, index._vectors["questions"][i], row.question_id, i)
        for i, row in enumerate(index.rows["questions"]) if row.kind != "question"]
    outside = [t.asked for t in bank.typed if t.expected is None]
    if outside:
        queries += [(text, vector, None, None) for text, vector in zip(outside, embedder.encode(outside), strict=True)]
    return fit_ranker(queries, index.ranker_vectors(), EntryTexts(bank))


def build_index(bank: Bank, embedder: Embedder) -> BankIndex:
    """Embed every question, alias, typed question, key point and reference text of a bank; fit the ranker."""
    started = time.perf_counter()
    rows = _rows(bank)
    vectors = {kind: embedder.encode([r.text for r in rows[kind]]).reshape(len(rows[kind]), embedder.dim)
               for kind in (*KINDS, *LOOKUP_KINDS)}
    indexes = {kind: _make_faiss(vectors[kind]) for kind in KINDS}
    index = BankIndex({}, rows, indexes, vectors)
    index.ranker = _fit_ranker(bank, embedder, index)
    index.manifest = {
        **expected_manifest(bank, embedder),
        "corpus": str(bank.path),
        "counts": {kind: len(rows[kind]) for kind in (*KINDS, *LOOKUP_KINDS)} | {"questions_in_bank": len(bank)},
        "index_types": {kind: type(indexes[kind]).__name__ for kind in KINDS},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.perf_counter() - started, 3),
        "dlgrader_version": __version__,
        "ranker": index.ranker.report if index.ranker is not None else None,
    }
    return index


def stale_reason(directory: Path, bank: Bank, embedder: Embedder) -> str | None:
    """Why the index in ``directory`` cannot serve this bank and embedder, or None when it can."""
    manifest_file = directory / "manifest.json"
    if not manifest_file.is_file():
        return "no index yet"
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"unreadable manifest ({exc})"
    for key, value in expected_manifest(bank, embedder).items():
        if manifest.get(key) != value:
            return f"{key} changed ({manifest.get(key)!r} -> {value!r})"
    return None


def load_or_build(bank: Bank, embedder: Embedder, directory: Path) -> BankIndex:
    """The bank's index: loaded when current, otherwise rebuilt and saved (with a log line saying why)."""
    reason = stale_reason(directory, bank, embedder)
    if reason is None:
        try:
            return BankIndex.load(directory)
        except IndexError_ as exc:
            reason = str(exc)
    log.warning("rebuilding the index in %s: %s", directory, reason)
    index = build_index(bank, embedder)
    try:
        index.save(directory)
    except OSError as exc:  # a read-only location still lets this process grade
        log.warning("could not save the index to %s: %s", directory, exc)
    return index
