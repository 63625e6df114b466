"""Rules a question bank must keep, checked record by record and against the source documents."""

from __future__ import annotations

from pathlib import Path

from dlgrader.corpus.loader import parse_bank_rows
from dlgrader.corpus.text import normalize_ws, support_ratio
from dlgrader.models import Question

MIN_SUPPORT = 0.6  # share of a key point's content words that its excerpt must contain
MIN_KEY_POINTS, MAX_KEY_POINTS = 2, 8
MIN_RUBRIC_POINTS, MIN_MISCONCEPTIONS, MIN_ALIASES = 3, 2, 3


def _check_question(q: Question, where: str, sources: dict[str, str | None]) -> list[str]:
    problems: list[str] = []
    explicit = any(kp.source or kp.excerpt for kp in q.key_points) or bool(q.sources)
    if len(q.key_points) > MAX_KEY_POINTS:
        problems.append(f"{where}: {len(q.key_points)} key points (at most {MAX_KEY_POINTS})")
    if explicit and len(q.key_points) < MIN_KEY_POINTS:
        problems.append(f"{where}: {len(q.key_points)} key point(s) (at least {MIN_KEY_POINTS})")
    for field_name in ("question", "reference_answer"):
        if not normalize_ws(getattr(q, field_name)):
            problems.append(f"{where}: empty {field_name}")
    for source in q.sources:
        problems.extend(_verbatim(source.excerpt, source.document, sources, f"{where}: source {source.locator}"))
    if _is_rubric(q):
        problems.extend(_check_rubric(q, where))
    documents = {ref.document for ref in q.sources}
    for i, kp in enumerate(q.key_points):
        if not normalize_ws(kp.text):
            problems.append(f"{where}: key point {i} is empty")
        for ref in kp.refs:
            problems.extend(_verbatim(ref.excerpt, ref.document, sources, f"{where}: key point {i} ({ref.ref})"))
        if kp.source is None or kp.editorial is not None:
            continue  # an editorial point says what the source should have said: no support check
        if not kp.refs and kp.source not in documents:
            problems.append(f"{where}: key point {i} cites {kp.source!r}, which is not in its sources")
            continue
        if kp.refs:
            evidence = " ".join(r.excerpt for r in kp.refs)
        else:
            evidence = kp.excerpt or " ".join(r.excerpt for r in q.sources if r.document == kp.source)
            if kp.excerpt and not any(normalize_ws(kp.excerpt) in normalize_ws(r.excerpt)
                                      for r in q.sources if r.document == kp.source):
                problems.append(f"{where}: key point {i}'s excerpt is not among the question's sources")
        ratio = support_ratio(kp.text, evidence)
        if ratio < MIN_SUPPORT:
            problems.append(f"{where}: key point {i} is not supported by its excerpt "
                            f"(support {ratio:.2f} < {MIN_SUPPORT}): {kp.text[:60]!r}")
    return problems


def _verbatim(excerpt: str, document: str, sources: dict[str, str | None], where: str) -> list[str]:
    text = sources.get(document)
    if text is None:
        return [f"{where}: source document {document!r} not found"]
    if normalize_ws(excerpt) not in text:
        return [f"{where}: excerpt not found verbatim in {document}: {excerpt[:60]!r}"]
    return []


def _is_rubric(q: Question) -> bool:
    """A rubric entry (the bundled bank) rather than a teacher's minimal bank: it has misconceptions or
    traceable key points, and is then held to the rubric's rules."""
    return bool(q.misconceptions) or any(kp.refs for kp in q.key_points)


def _check_rubric(q: Question, where: str) -> list[str]:
    problems = []
    if len(q.key_points) < MIN_RUBRIC_POINTS:
        problems.append(f"{where}: {len(q.key_points)} key points (a rubric entry has at least {MIN_RUBRIC_POINTS})")
    if not any(kp.weight == "core" for kp in q.key_points):
        problems.append(f"{where}: no core key point")
    if len(q.misconceptions) < MIN_MISCONCEPTIONS:
        problems.append(f"{where}: {len(q.misconceptions)} misconception(s) (at least {MIN_MISCONCEPTIONS})")
    for m in q.misconceptions:
        if m.contradicts is not None and m.contradicts >= len(q.key_points):
            problems.append(f"{where}: a misconception contradicts key point {m.contradicts}, which does not exist")
    if len(q.aliases) < MIN_ALIASES:
        problems.append(f"{where}: {len(q.aliases)} alias(es) (at least {MIN_ALIASES})")
    for i, kp in enumerate(q.key_points):
        if not kp.refs and kp.editorial is None:
            problems.append(f"{where}: key point {i} is traceable to no curated fact and is not editorial")
    return problems


def validate_bank_file(path: Path, sources_dir: Path | None = None) -> tuple[int, list[str]]:
    """Validate a bank file; returns (number of questions, problems), each problem naming its line."""
    sources_dir = sources_dir or path.parent / "sources"
    cache: dict[str, str | None] = {}

    def source_text(name: str) -> str | None:
        if name not in cache:
            file = sources_dir / name
            cache[name] = normalize_ws(file.read_text(encoding="utf-8")) if file.is_file() else None
        return cache[name]

    problems: list[str] = []
    seen: dict[str, int] = {}
    count = 0
    for number, row in parse_bank_rows(path):
        if isinstance(row, str):
            problems.append(f"line {number}: {row}")
            continue
        count += 1
        where = f"line {number} ({row.id})"
        if row.id in seen:
            problems.append(f"{where}: duplicate id, first on line {seen[row.id]}")
        seen.setdefault(row.id, number)
        docs = ({ref.document for ref in row.sources} | {kp.source for kp in row.key_points if kp.source}
                | {r.document for kp in row.key_points for r in kp.refs})
        sources = {d: source_text(d) for d in docs}
        problems.extend(_check_question(row, where, sources))
    if count == 0 and not problems:
        problems.append("the bank has no questions")
    return count, problems
