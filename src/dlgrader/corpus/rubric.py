"""From rubric files (``corpus/rubric/<id>.json``) and curated article facts to bank entries.

The curated files are the provenance layer (every fact an article states, verbatim); a rubric file is the
editorial layer: which facts make up an entry, in what words, with what weight, what the source gets
wrong, and which misconceptions candidates hold (``corpus/rubric/README.md`` has the format). Nothing is
merged, cut or dropped here except by a decision written in a rubric file: ``resolve`` refuses a bank in
which any curated fact is neither cited nor dropped with a reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dlgrader.corpus.parsers import PARSERS
from dlgrader.corpus.text import normalize_ws
from dlgrader.errors import CorpusValidationError
from dlgrader.models import Editorial, KeyPoint, Misconception, PointRef, Question, SourceRef

_POINT_REF = re.compile(r"^(\d{3}):L(\d+):(\d+)$")
_ITEM_REF = re.compile(r"^(\d{3}):L(\d+)$")
MIN_ALIASES = 3
MIN_MISCONCEPTIONS = 2
MIN_KEY_POINTS, MAX_KEY_POINTS = 3, 8


@dataclass(frozen=True)
class CuratedItem:
    """One curated article block, addressed by its item ref (``002:L10``)."""

    ref: str
    document: str
    item: dict[str, Any]

    @property
    def point_refs(self) -> list[str]:
        return [f"{self.ref}:{k}" for k in range(len(self.item.get("key_points") or []))]


def curated_items(corpus_dir: Path) -> dict[str, CuratedItem]:
    """Every curated item by its ref, in document and line order."""
    out: dict[str, CuratedItem] = {}
    for document in PARSERS:
        path = corpus_dir / "curated" / f"{document.removesuffix('.txt')}.jsonl"
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                ref = f"{document[:3]}:L{number}"
                try:
                    out[ref] = CuratedItem(ref, document, json.loads(line))
                except json.JSONDecodeError as exc:
                    problem = f"{path.name} line {number}: invalid JSON ({exc.msg})"
                    raise CorpusValidationError([problem]) from exc
    return out


def load_rubric(corpus_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The rubric files, sorted by name."""
    out = []
    for path in sorted((corpus_dir / "rubric").glob("*.json")):
        try:
            out.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except json.JSONDecodeError as exc:
            raise CorpusValidationError([f"rubric/{path.name}: invalid JSON ({exc.msg})"]) from exc
    return out


def load_titles(corpus_dir: Path) -> dict[str, str]:
    path = corpus_dir / "sources" / "titles.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


class _Resolver:
    def __init__(self, items: dict[str, CuratedItem], titles: dict[str, str]) -> None:
        self.items = items
        self.titles = titles
        self.problems: list[str] = []
        self.cited: set[str] = set()
        self.claimed_items: dict[str, str] = {}

    def point(self, ref: str, where: str) -> tuple[CuratedItem, dict[str, Any]] | None:
        match = _POINT_REF.match(ref)
        item = self.items.get(f"{match.group(1)}:L{match.group(2)}") if match else None
        points = (item.item.get("key_points") or []) if item else []
        if match is None or item is None or int(match.group(3)) >= len(points):
            self.problems.append(f"{where}: no curated key point {ref!r}")
            return None
        return item, points[int(match.group(3))]

    def entry(self, path: Path, raw: dict[str, Any]) -> Question | None:
        where = f"rubric/{path.name}"
        if raw.get("id") != path.stem:
            self.problems.append(f"{where}: id {raw.get('id')!r} differs from the file name")
        sources, phrasings = self._sources(raw, where)
        key_points = [point for i, kp in enumerate(raw.get("key_points") or [])
                      if (point := self._key_point(kp, f"{where} key point {i}"))]
        for dropped in raw.get("dropped") or []:
            reasoned = len(str(dropped.get("reason", ""))) >= 3
            if self.point(str(dropped.get("ref")), f"{where} dropped") and reasoned:
                self.cited.add(str(dropped["ref"]))
            else:
                self.problems.append(f"{where}: dropped {dropped.get('ref')!r} needs a reason")
        question = normalize_ws(str(raw.get("question", "")))
        aliases: list[str] = []
        for text in [*raw.get("aliases", []), *phrasings]:
            text = normalize_ws(str(text))
            if text and text.lower() != question.lower() and text.lower() not in {a.lower() for a in aliases}:
                aliases.append(text)
        try:
            return Question(
                id=str(raw.get("id")), question=question, aliases=aliases, topic=str(raw.get("topic")),
                difficulty=raw.get("difficulty", "intermediate"), reference_answer=normalize_ws(
                    str(raw.get("reference_answer", ""))), key_points=key_points, sources=sources,
                misconceptions=[Misconception(**m) for m in raw.get("misconceptions") or []],
                replaces=list(raw.get("replaces") or []))
        except (ValidationError, TypeError) as exc:
            self.problems.append(f"{where}: {exc}".replace("\n", " ")[:400])
            return None

    def _sources(self, raw: dict[str, Any], where: str) -> tuple[list[SourceRef], list[str]]:
        sources, phrasings = [], []
        for ref in raw.get("source_questions") or []:
            item = self.items.get(str(ref)) if _ITEM_REF.match(str(ref)) else None
            if item is None:
                self.problems.append(f"{where}: no curated item {ref!r}")
                continue
            if ref in self.claimed_items:
                self.problems.append(f"{where}: item {ref} is already answered by "
                                     f"{self.claimed_items[ref]!r}")
            self.claimed_items[ref] = str(raw.get("id"))
            data = item.item
            first_point = (data.get("key_points") or [{}])[0]
            excerpt = data.get("excerpt") if data.get("merge_only") else first_point.get("excerpt")
            sources.append(SourceRef(document=item.document, locator=str(data["locator"]),
                                     excerpt=str(excerpt or data["question"]),
                                     title=self.titles.get(item.document)))
            phrasings.append(str(data["question"]))
        return sources, phrasings

    def _key_point(self, raw: dict[str, Any], where: str) -> KeyPoint | None:
        refs: list[PointRef] = []
        for ref in raw.get("from") or []:
            found = self.point(str(ref), where)
            if found:
                item, point = found
                refs.append(PointRef(ref=str(ref), document=item.document, excerpt=str(point["excerpt"])))
                self.cited.add(str(ref))
        if not refs and not raw.get("editorial"):
            self.problems.append(f"{where}: cites no curated fact and is not editorial")
        try:
            return KeyPoint(text=normalize_ws(str(raw.get("text", ""))), weight=raw.get("weight", "core"),
                            source=refs[0].document if refs else None, excerpt=refs[0].excerpt if refs else None,
                            refs=refs, editorial=Editorial(**raw["editorial"]) if raw.get("editorial") else None)
        except (ValidationError, TypeError) as exc:
            self.problems.append(f"{where}: {exc}".replace("\n", " ")[:300])
            return None


def resolve(corpus_dir: Path) -> list[Question]:
    """Every rubric entry as a bank ``Question``, or ``CorpusValidationError`` listing every problem:
    a reference to nothing, a curated item answered twice or never, a curated fact neither cited nor
    dropped, an id replaced by one entry and still present as another."""
    items = curated_items(corpus_dir)
    resolver = _Resolver(items, load_titles(corpus_dir))
    questions = [q for path, raw in load_rubric(corpus_dir) if (q := resolver.entry(path, raw))]
    problems = resolver.problems
    for ref, item in items.items():
        if ref not in resolver.claimed_items:
            problems.append(f"curated item {ref} ({item.item.get('question')!r}) is answered by no rubric entry")
        for point in item.point_refs:
            if point not in resolver.cited:
                problems.append(f"curated fact {point} is neither cited by a key point nor dropped with a reason")
    ids = {q.id for q in questions}
    for q in questions:
        for old in q.replaces:
            if old in ids:
                problems.append(f"rubric/{q.id}.json replaces {old!r}, which is still an entry of its own")
    if problems:
        raise CorpusValidationError(problems)
    # Bank order: by each entry's first curated item (article order, then line).
    order = {ref: i for i, ref in enumerate(items)}
    first: dict[str, int] = {}
    for ref, qid in resolver.claimed_items.items():
        first[qid] = min(first.get(qid, len(order)), order[ref])
    return sorted(questions, key=lambda q: (first.get(q.id, len(order)), q.id))
