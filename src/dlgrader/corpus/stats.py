"""Counts that describe a bank: per article, per topic, per difficulty, key points per question."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from dlgrader.corpus.loader import Bank
from dlgrader.models import ExcludedItem


def bank_stats(bank: Bank, excluded: list[ExcludedItem] | None = None) -> dict[str, object]:
    """A JSON-ready summary of the bank."""
    per_article: Counter[str] = Counter()
    for q in bank.questions:
        for document in q.documents:
            per_article[document] += 1
    kp_counts = [len(q.key_points) for q in bank.questions]
    excluded = excluded or []
    return {
        "bank": str(bank.path),
        "content_hash": bank.content_hash,
        "questions": len(bank),
        "merged_questions": sum(1 for q in bank.questions if len(q.documents) > 1),
        "key_points": sum(kp_counts),
        "key_points_per_question": {
            "min": min(kp_counts), "max": max(kp_counts), "mean": round(sum(kp_counts) / len(kp_counts), 2),
        },
        "per_article": dict(sorted(per_article.items())),
        "per_topic": dict(sorted(Counter(q.topic for q in bank.questions).items())),
        "per_difficulty": dict(sorted(Counter(q.difficulty for q in bank.questions).items())),
        "core_key_points": sum(1 for q in bank.questions for kp in q.key_points if kp.weight == "core"),
        "supporting_key_points": sum(1 for q in bank.questions for kp in q.key_points if kp.weight == "supporting"),
        "editorial_key_points": sum(1 for q in bank.questions for kp in q.key_points if kp.editorial),
        "misconceptions": sum(len(q.misconceptions) for q in bank.questions),
        "misconceptions_per_question": {
            "min": min(len(q.misconceptions) for q in bank.questions),
            "max": max(len(q.misconceptions) for q in bank.questions)},
        "per_question": {q.id: {"key_points": len(q.key_points),
                                "core": sum(1 for kp in q.key_points if kp.weight == "core"),
                                "misconceptions": len(q.misconceptions)} for q in bank.questions},
        "excluded": len(excluded),
        "excluded_per_article": dict(sorted(Counter(e.document for e in excluded).items())),
    }


def load_excluded(path: Path) -> list[ExcludedItem]:
    """The excluded list beside a bank, if there is one."""
    import json

    if not path.is_file():
        return []
    return [ExcludedItem.model_validate(json.loads(line))
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
