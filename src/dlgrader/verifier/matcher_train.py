"""Train the question re-ranker and choose its acceptance threshold (``dlgrader verifier train-matcher``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from dlgrader.config import Settings
from dlgrader.corpus.loader import Bank, load_bank
from dlgrader.embedding import Embedder, load_embedder
from dlgrader.index import BankIndex, load_or_build
from dlgrader.matching import RERANK_CANDIDATES, QuestionMatcher
from dlgrader.verifier.matcher import (
    SHOWN_ALIASES,
    QuestionReranker,
    TypedQuestion,
    is_held_back,
    load_typed,
    pairs_for,
)
from dlgrader.verifier.model import Verifier
from dlgrader.verifier.train import TrainSettings, export, manifest_for, train

HELD_BACK = 0.34  # share of the typed questions kept for choosing the threshold
CANDIDATES_FOR_NEGATIVES = 8


def _candidates(index: BankIndex, texts: list[str], embedder: Embedder) -> dict[str, list[str]]:
    vectors = embedder.encode(texts)
    out: dict[str, list[str]] = {}
    for text, hits in zip(texts, index.search("questions", vectors, 4 * CANDIDATES_FOR_NEGATIVES), strict=True):
        ids: list[str] = []
        for hit in hits:
            if hit.row.question_id not in ids:
                ids.append(hit.row.question_id)
        out[text] = ids[:CANDIDATES_FOR_NEGATIVES]
    return out


def choose_threshold(matcher: QuestionMatcher, embedder: Embedder, rows: list[TypedQuestion],
                     bank: Bank) -> dict[str, object]:
    """The acceptance threshold that matches the most held-back questions rightly, with wrong matches and
    out-of-bank matches counted three times as bad as an unknown."""
    vectors = embedder.encode([r.asked for r in rows])
    scored = []
    for row, vector in zip(rows, vectors, strict=True):
        match = matcher.match(row.asked, vector)  # accept=0: the best candidate and its probability
        target = bank.get(row.expected) if row.expected else None
        expected = target.id if target else None
        got = match.suggestions[0].question_id if match.suggestions else None
        scored.append((match.confidence, got, expected))
    best = None
    for step in range(5, 96):
        tau = step / 100
        right = sum(1 for p, got, exp in scored if exp and p >= tau and got == exp)
        wrong = sum(1 for p, got, exp in scored if exp and p >= tau and got != exp)
        oob_matched = sum(1 for p, _, exp in scored if exp is None and p >= tau)
        value = right - 3 * (wrong + oob_matched)
        if best is None or value > best[0]:
            best = (value, tau, right, wrong, oob_matched)
    assert best is not None
    in_bank = sum(1 for *_, exp in scored if exp)
    oob = len(scored) - in_bank
    return {"accept_threshold": best[1], "held_back_in_bank": in_bank, "held_back_oob": oob,
            "right": round(best[2] / max(1, in_bank), 4), "wrong": round(best[3] / max(1, in_bank), 4),
            "oob_matched": round(best[4] / max(1, oob), 4)}


def train_matcher(settings: Settings, questions_file: Path, *, epochs: int = 2,
                  progress: Callable[[str], None] | None = None) -> dict[str, object]:
    bank = load_bank(settings.corpus)
    embedder = load_embedder(model=settings.model, backend=settings.backend, threads=settings.threads)
    index = load_or_build(bank, embedder, settings.resolved_index_dir())
    typed = load_typed(questions_file)
    training = [t for t in typed if not is_held_back(t.asked, HELD_BACK)]
    held = [t for t in typed if is_held_back(t.asked, HELD_BACK)]
    texts = [a for q in bank.questions for a in q.aliases[SHOWN_ALIASES:]] + [t.asked for t in training]
    pairs = pairs_for(bank, _candidates(index, texts, embedder), training)
    train_settings = TrainSettings(epochs=epochs)
    model, tokenizer = train(pairs, train_settings, progress)
    out_dir = settings.matcher_dir
    manifest = manifest_for(pairs, train_settings, {})
    manifest["name"] = "dlgrader-question-matcher"
    export(model, tokenizer, out_dir, manifest)
    matcher = QuestionMatcher(bank, index, reranker=QuestionReranker(Verifier(out_dir)), accept=0.0)
    report = choose_threshold(matcher, embedder, held, bank)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest["accept_threshold"] = report["accept_threshold"]
    manifest["metrics"] = {"held_back": report, "rerank_candidates": RERANK_CANDIDATES}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return {"pairs": len(pairs), **report}
