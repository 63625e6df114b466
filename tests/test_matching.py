"""Question matching with the index's ranker: fitted from the bank's typed questions, refitted when stale,
and the term check kept for banks without typed questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dlgrader import index as index_module
from dlgrader.corpus.loader import load_bank
from dlgrader.errors import CorpusValidationError
from dlgrader.index import build_index, stale_reason
from dlgrader.match_ranker import MAX_OUT_OF_BANK_ACCEPTED, THRESHOLDS
from dlgrader.matching import MATCH_THRESHOLD, QuestionMatcher

BANK_CSV = ("id,question,reference_answer\n"
            "tensor,What is a tensor?,A tensor is a multi-dimensional array of numbers.\n"
            "epoch,What is an epoch?,An epoch is one full pass over the training data.\n")


def test_the_bank_ranker_is_fitted_and_its_choice_recorded(grader) -> None:  # type: ignore[no-untyped-def]
    ranker = grader.index.ranker
    assert ranker is not None and grader.index.manifest["ranker"] == ranker.report
    assert ranker.threshold in THRESHOLDS and grader.matcher.acceptance == ranker.threshold
    figures = ranker.report["out_of_fold"]
    assert figures["oob_matched"] <= MAX_OUT_OF_BANK_ACCEPTED and figures["right"] > 0.7
    assert ranker.report["in_bank"] > 1500 and ranker.report["out_of_bank"] > 300
    typed = [row for row in grader.index.rows["questions"] if row.kind == "typed"]
    assert len(typed) == ranker.report["in_bank"] - sum(len(q.aliases) for q in grader.bank.questions)


# Written for this test, in words that are not among the bank's aliases or typed questions.
@pytest.mark.parametrize(("asked", "expected"), [
    ("In PyTorch, what's the difference between model.train() and model.eval()?", "train_vs_eval_mode"),
    ("What's the difference between 'valid' and 'same' padding?", "valid_vs_same_padding"),
    ("What changes when you add a momentum term to plain SGD?", "momentum"),
    ("How does a GAN's discriminator learn?", "gan"),
    ("which flavours of autoencoder are out there?", "autoencoder_types"),  # asks for types, not the definition
    ("wat r the downsides of dropout", "dropout_pros_and_cons"),  # asks for drawbacks, not what dropout is
    ("explain CLIP", None),  # the model, not gradient clipping: a capitalised name must occur as written
    ("What is LoRA fine-tuning?", None),
    ("What is a vision transformer?", None),
])
def test_phrasings_and_near_misses(grader, asked: str, expected: str | None) -> None:  # type: ignore[no-untyped-def]
    assert all(t.asked != asked for t in grader.bank.typed)
    match = grader.match_question(asked)
    assert (match.question.id if match.question else None) == expected
    assert match.suggestions  # unknown or not, the nearest entries are offered


def test_typed_questions_with_problems_are_refused_with_their_lines(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text(BANK_CSV, encoding="utf-8")
    (tmp_path / "matching").mkdir()
    (tmp_path / "matching" / "mine.jsonl").write_text("\n".join([
        json.dumps({"asked": "tensor?", "expected": "tensor"}),
        "{not json",
        json.dumps({"asked": "what is a batch?", "expected": "batch"}),
        json.dumps({"asked": "", "expected": None}),
    ]) + "\n", encoding="utf-8")
    with pytest.raises(CorpusValidationError) as caught:
        load_bank(tmp_path / "bank.csv")
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("mine.jsonl line 2") and "unknown question id 'batch'" in problems[1]
    assert problems[2].startswith("mine.jsonl line 4")


def test_a_bank_without_typed_questions_keeps_the_term_check(tmp_path: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bank.csv").write_text(BANK_CSV, encoding="utf-8")
    bank = load_bank(tmp_path / "bank.csv")
    index = build_index(bank, fake_embedder)
    assert bank.typed == () and index.ranker is None and index.manifest["ranker"] is None
    matcher = QuestionMatcher(bank, index)
    assert matcher.acceptance == MATCH_THRESHOLD
    match = matcher.match("What is a tensor?", fake_embedder.encode(["What is a tensor?"])[0])
    assert match.question is not None and match.question.id == "tensor"


def test_typed_questions_change_the_bank_hash(tmp_path: Path) -> None:
    (tmp_path / "bank.csv").write_text(BANK_CSV, encoding="utf-8")
    before = load_bank(tmp_path / "bank.csv").content_hash
    (tmp_path / "matching").mkdir()
    (tmp_path / "matching" / "mine.jsonl").write_text(json.dumps({"asked": "tensor?", "expected": "tensor"}) + "\n")
    assert load_bank(tmp_path / "bank.csv").content_hash != before


def test_a_ranker_fitted_on_other_features_is_stale(grader, session_index_dir: Path,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert stale_reason(session_index_dir, grader.bank, grader.embedder) is None
    monkeypatch.setattr(index_module, "RANKER_VERSION", index_module.RANKER_VERSION + 1)
    assert "ranker_version changed" in (stale_reason(session_index_dir, grader.bank, grader.embedder) or "")


def test_the_saved_trees_predict_what_scikit_learn_predicts(tmp_path: Path) -> None:
    import numpy as np

    from dlgrader.match_ranker import FEATURES, MatchRanker, TreeEnsemble, _model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 3] * x[:, 5] + rng.normal(scale=0.5, size=600)) > 0
    model = _model().fit(x, y)
    probe = rng.normal(size=(300, len(FEATURES)))
    probe[::7, 2] = np.nan  # a missing value follows the side the tree learned for it
    ranker = MatchRanker(TreeEnsemble.from_sklearn(model), 0.6, {"note": "test"})
    ranker.save(tmp_path / "ranker.npz")
    loaded = MatchRanker.load(tmp_path / "ranker.npz")
    assert loaded.threshold == 0.6 and loaded.report == {"note": "test"}
    assert np.allclose(loaded.probabilities(probe.tolist()), model.predict_proba(probe)[:, 1], atol=1e-12)
