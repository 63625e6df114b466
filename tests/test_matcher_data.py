"""The question re-ranker's training pairs (no training here: that takes minutes)."""

from __future__ import annotations

from dlgrader.verifier.matcher import SAME, SHOWN_ALIASES, TypedQuestion, entry_text, is_held_back, pairs_for


def test_pairs_hold_no_verbatim_copy_and_have_hard_negatives(grader) -> None:  # type: ignore[no-untyped-def]
    bank = grader.bank
    dropout = bank.get("dropout")
    assert dropout is not None
    typed = [TypedQuestion("so why does switching off neurons help?", "dropout"),
             TypedQuestion("How does DDIM sampling work?", None)]
    candidates = {t.asked: ["dropout", "dropout_in_pytorch", "early_stopping", "diffusion_model"] for t in typed}
    pairs = pairs_for(bank, candidates, typed)
    shown = set(dropout.aliases[:SHOWN_ALIASES])
    assert not any(p.premise in shown for p in pairs)
    mine = [p for p in pairs if p.premise == typed[0].asked]
    assert [(p.label, p.hypothesis) for p in mine][0] == (SAME, entry_text(dropout))
    assert {p.label for p in mine[1:]} == {"neutral"} and len(mine) == 4
    oob = [p for p in pairs if p.premise == typed[1].asked]
    assert len(oob) == 3 and all(p.label == "neutral" for p in oob)


def test_the_held_back_split_is_stable() -> None:
    texts = [f"question {i}" for i in range(300)]
    first = [is_held_back(t, 0.34) for t in texts]
    assert first == [is_held_back(t, 0.34) for t in texts]
    assert 0.2 < sum(first) / len(first) < 0.5
