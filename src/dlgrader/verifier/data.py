"""The verifier's training pairs: read, checked against the rubric, hashed, and split by question.

Pairs live in ``corpus/verifier/*.jsonl`` (see its README). The hash covers the pairs and the training
settings, so a shipped model whose manifest names another hash is stale (a test says so).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dlgrader.errors import CorpusError

LABELS = ("entailment", "contradiction", "neutral")
LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}


@dataclass(frozen=True)
class Pair:
    """One premise/hypothesis pair with its label; ``group`` is the question it belongs to (for splits)."""

    premise: str
    hypothesis: str
    label: str
    group: str
    kind: str = ""
    source: str = ""  # file name
    # The hypothesis is a key point in another teacher's words, not the bank's text: the model must not
    # learn that only the bank's own sentences can be entailed.
    rephrased: bool = False

    @property
    def label_index(self) -> int:
        return LABEL_INDEX[self.label]


def load_pairs(directory: Path) -> list[Pair]:
    """Every pair of ``directory/*.jsonl`` in file and line order; a malformed line is an error (the
    training data is curated: a bad line is a mistake to fix, not to skip)."""
    pairs: list[Pair] = []
    problems: list[str] = []
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise CorpusError(f"no training pairs under {directory}")
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                label = str(row["label"])
                if label not in LABEL_INDEX:
                    raise ValueError(f"label {label!r}")
                premise, hypothesis = str(row["premise"]).strip(), str(row["hypothesis"]).strip()
                if not premise or not hypothesis:
                    raise ValueError("empty premise or hypothesis")
                group = str(row.get("question_id") or "generic")
                if group == "generic":  # generic hypotheses are their own groups: split them by hypothesis
                    group = f"generic:{row.get('kp', hypothesis)}"
                rephrased = row.get("hypothesis_source", "bank") == "rephrased"
                pairs.append(Pair(premise, hypothesis, label, group, str(row.get("kind", "")), path.name,
                                  rephrased))
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{path.name} line {number}: {exc}")
    if problems:
        raise CorpusError(f"{len(problems)} bad training line(s): " + "; ".join(problems[:5]))
    return pairs


def data_hash(pairs: list[Pair], settings: dict[str, object]) -> str:
    """A hash of the pairs (in order) and the training settings."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for p in pairs:
        digest.update(json.dumps([p.premise, p.hypothesis, p.label, p.group]).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def folds_by_group(pairs: list[Pair], k: int = 5) -> list[int]:
    """A fold number for every pair such that no group (question) is in two folds; groups are dealt to
    folds by a stable hash, so the split does not change when pairs are added to other questions."""
    groups = sorted({p.group for p in pairs})
    order = sorted(groups, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    fold_of = {g: i % k for i, g in enumerate(order)}
    return [fold_of[p.group] for p in pairs]


def summary(pairs: list[Pair]) -> dict[str, object]:
    return {"pairs": len(pairs), "groups": len({p.group for p in pairs}),
            "labels": dict(Counter(p.label for p in pairs)), "files": dict(Counter(p.source for p in pairs))}
