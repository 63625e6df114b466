"""The reproducible pipeline from source articles to the question bank.

1. ``extract``: each article's parser cuts it into draft blocks (``corpus/draft/<doc>.jsonl``).
2. Curation (by hand, committed as data): ``corpus/curated/<doc>.jsonl`` gives each block its question id,
   topic, difficulty, reference answer and key points with verbatim excerpts;
   ``corpus/curated/<doc>.excluded.jsonl`` says why a block is left out.
3. ``build``: items sharing an id across articles are merged into one canonical question (aliases from the
   other phrasings, key points combined and de-duplicated), written to ``corpus/questions.jsonl`` and
   ``corpus/excluded.jsonl``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import OrderedDict
from pathlib import Path

from dlgrader.corpus.parsers import PARSERS, DraftBlock, parser_for
from dlgrader.corpus.text import content_stems, normalize_ws, support_ratio
from dlgrader.errors import CorpusError
from dlgrader.models import ExcludedItem, KeyPoint, Question, SourceRef

MAX_MERGED_KEY_POINTS = 8
DUPLICATE_OVERLAP = 0.6  # key points sharing this share of content words say the same thing


def write_jsonl_atomic(path: Path, records: list[dict[str, object]]) -> None:
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


def _is_duplicate(text: str, kept: list[KeyPoint]) -> bool:
    stems = content_stems(text)
    for kp in kept:
        other = content_stems(kp.text)
        if stems and other and len(stems & other) / min(len(stems), len(other)) >= DUPLICATE_OVERLAP:
            return True
    return False


def _merge_key_points(group: list[tuple[str, dict[str, object]]]) -> list[KeyPoint]:
    """Round-robin across the sources so every article contributes, skipping restated facts."""
    queues = [
        [KeyPoint(text=kp["text"], source=doc, excerpt=kp["excerpt"]) for kp in item["key_points"]]  # type: ignore[union-attr,index]
        for doc, item in group
    ]
    kept: list[KeyPoint] = []
    while any(queues) and len(kept) < MAX_MERGED_KEY_POINTS:
        for queue in queues:
            if queue and len(kept) < MAX_MERGED_KEY_POINTS:
                candidate = queue.pop(0)
                if not _is_duplicate(candidate.text, kept):
                    kept.append(candidate)
    return kept


def merge_group(qid: str, group: list[tuple[str, dict[str, object]]]) -> Question:
    """One canonical question from the curated items of several articles that share an id.

    ``merge_only`` items (an article asks the question but its answer was lost) add their phrasing as an
    alias and their surviving text as a source, and never lead the entry.
    """
    group = sorted(group, key=lambda entry: bool(entry[1].get("merge_only")))
    if group[0][1].get("merge_only"):
        raise CorpusError(f"{qid}: merge_only items need an item with the same id in another article")
    primary_doc, primary = group[0]
    key_points = _merge_key_points(group)
    locators = {doc: str(item["locator"]) for doc, item in group}
    sources: list[SourceRef] = []
    for kp in key_points:
        ref = SourceRef(document=str(kp.source), locator=locators[str(kp.source)], excerpt=str(kp.excerpt))
        if ref not in sources:
            sources.append(ref)
    # Every article that asks the question stays on record, even when its points were all restatements.
    for doc, item in group:
        if doc not in {s.document for s in sources}:
            excerpt = item["excerpt"] if item.get("merge_only") else item["key_points"][0]["excerpt"]  # type: ignore[index]
            sources.append(SourceRef(document=doc, locator=locators[doc], excerpt=str(excerpt)))
    aliases: list[str] = []
    for _, item in group[1:]:
        phrasing = normalize_ws(str(item["question"]))
        known = {normalize_ws(str(primary["question"])).lower(), *(a.lower() for a in aliases)}
        if phrasing.lower() not in known:
            aliases.append(phrasing)
    reference = normalize_ws(str(primary["reference_answer"]))
    # Facts that only other articles give join the reference answer, so it covers every key point.
    extra = [kp.text for kp in key_points if kp.source != primary_doc and support_ratio(kp.text, reference) < 0.8]
    if extra:
        reference = f"{reference} {' '.join(extra)}"
    return Question(
        id=qid, question=normalize_ws(str(primary["question"])), aliases=aliases,
        topic=str(primary["topic"]), difficulty=primary["difficulty"],  # type: ignore[arg-type]
        reference_answer=reference, key_points=key_points, sources=sources,
    )


def build_bank(corpus_dir: Path) -> tuple[list[Question], list[ExcludedItem]]:
    """Merge the curated items into canonical questions and write questions.jsonl and excluded.jsonl."""
    items, excluded = load_curated(corpus_dir)
    if not items:
        raise CorpusError(f"no curated items under {corpus_dir / 'curated'}")
    groups: OrderedDict[str, list[tuple[str, dict[str, object]]]] = OrderedDict()
    for document, item in items:
        groups.setdefault(str(item["id"]), []).append((document, item))
    questions = [merge_group(qid, group) for qid, group in groups.items()]
    write_jsonl_atomic(corpus_dir / "questions.jsonl",
                       [q.model_dump(mode="json", exclude_none=True) for q in questions])
    write_jsonl_atomic(corpus_dir / "excluded.jsonl", [e.model_dump(mode="json") for e in excluded])
    return questions, excluded
