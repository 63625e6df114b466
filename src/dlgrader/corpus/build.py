"""The reproducible pipeline from source articles to the question bank.

1. ``extract``: each article's parser cuts it into draft blocks (``corpus/draft/<doc>.jsonl``).
2. Curation (by hand, committed as data): ``corpus/curated/<doc>.jsonl`` gives each block its question id,
   topic, difficulty, reference answer and key points with verbatim excerpts;
   ``corpus/curated/<doc>.excluded.jsonl`` says why a block is left out.
3. Rubric (by hand, committed as data): ``corpus/rubric/<id>.json`` makes each bank entry from curated
   facts: key points with weights, editorial corrections, misconceptions, aliases (``corpus/rubric/README.md``).
4. ``build``: the rubric entries resolved against the curated facts (``corpus.rubric``), checked for
   unresolved paraphrases, written to ``corpus/questions.jsonl`` and ``corpus/excluded.jsonl``. Nothing is
   merged, cut or dropped except by a decision recorded in a rubric file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dlgrader.corpus.parsers import PARSERS, DraftBlock, parser_for
from dlgrader.corpus.rubric import load_rubric, resolve
from dlgrader.errors import CorpusError, CorpusValidationError
from dlgrader.models import ExcludedItem, Question

if TYPE_CHECKING:
    from dlgrader.embedding import Embedder

# Two key points of one entry this close are taken for the same fact unless the rubric says otherwise.
PARAPHRASE_COSINE = 0.9


def write_jsonl_atomic(path: Path, records: Sequence[Mapping[str, object]]) -> None:
    """Write JSONL through a temporary file so a crash never leaves a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def extract_drafts(corpus_dir: Path) -> dict[str, list[DraftBlock]]:
    """Run every article's parser over ``corpus/sources`` and write ``corpus/draft/<doc>.jsonl``."""
    drafts: dict[str, list[DraftBlock]] = {}
    for document in PARSERS:
        source = corpus_dir / "sources" / document
        if not source.is_file():
            raise CorpusError(f"source article missing: {source}")
        blocks = parser_for(document)(source.read_text(encoding="utf-8"), document)
        drafts[document] = blocks
        write_jsonl_atomic(corpus_dir / "draft" / document.replace(".txt", ".jsonl"),
                           [b.to_dict() for b in blocks])
    return drafts


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path.name} line {number}: invalid JSON ({exc.msg})") from exc
    return records


def load_curated(corpus_dir: Path) -> tuple[list[tuple[str, dict[str, object]]], list[ExcludedItem]]:
    """Curated items as (document, item) in document order, and the excluded blocks."""
    items: list[tuple[str, dict[str, object]]] = []
    excluded: list[ExcludedItem] = []
    for document in PARSERS:
        stem = document.removesuffix(".txt")
        curated = corpus_dir / "curated" / f"{stem}.jsonl"
        if curated.is_file():
            items.extend((document, item) for item in _read_jsonl(curated))
        skipped = corpus_dir / "curated" / f"{stem}.excluded.jsonl"
        if skipped.is_file():
            for record in _read_jsonl(skipped):
                excluded.append(ExcludedItem.model_validate({**record, "document": document}))
    return items, excluded


def paraphrase_pairs(questions: list[Question], embedder: Embedder, decided: dict[str, set[tuple[int, int]]],
                     threshold: float = PARAPHRASE_COSINE) -> list[str]:
    """Key points of one entry that look like the same fact (embedding cosine above ``threshold``) with no
    ``distinct`` decision in the entry's rubric file."""
    problems = []
    texts = [kp.text for q in questions for kp in q.key_points]
    vectors = iter(embedder.encode(texts))
    for q in questions:
        matrix = [next(vectors) for _ in q.key_points]
        for i in range(len(matrix)):
            for j in range(i + 1, len(matrix)):
                cosine = float(matrix[i] @ matrix[j])
                if cosine > threshold and (i, j) not in decided.get(q.id, set()):
                    problems.append(f"rubric/{q.id}.json: key points {i} and {j} look like one fact (cosine "
                                    f"{cosine:.2f}); merge them, or record [{i}, {j}, \"why\"] under \"distinct\"")
    return problems


def _distinct_decisions(corpus_dir: Path) -> dict[str, set[tuple[int, int]]]:
    out: dict[str, set[tuple[int, int]]] = {}
    for path, raw in load_rubric(corpus_dir):
        out[path.stem] = {(min(int(d[0]), int(d[1])), max(int(d[0]), int(d[1]))) for d in raw.get("distinct") or []}
    return out


def build_bank(corpus_dir: Path, embedder: Embedder | None = None) -> tuple[list[Question], list[ExcludedItem]]:
    """The bank from the rubric files and the curated facts (``corpus.rubric.resolve``), checked for
    unresolved paraphrases when an embedder is given; writes questions.jsonl and excluded.jsonl."""
    questions = resolve(corpus_dir)
    _, excluded = load_curated(corpus_dir)
    if embedder is not None:
        problems = paraphrase_pairs(questions, embedder, _distinct_decisions(corpus_dir))
        if problems:
            raise CorpusValidationError(problems)
    write_jsonl_atomic(corpus_dir / "questions.jsonl",
                       [q.model_dump(mode="json", exclude_none=True, exclude_defaults=True) for q in questions])
    write_jsonl_atomic(corpus_dir / "excluded.jsonl", [e.model_dump(mode="json") for e in excluded])
    return questions, excluded
