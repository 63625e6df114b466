"""The shipped verifier: not stale, int8 close to fp32, behaviour on hand-written cases, ``verifier predict``.

Everything here runs the real int8 ONNX model from models/verifier (loaded once per session).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgrader.cli import cli
from dlgrader.config import DEFAULT_VERIFIER_DIR, PROJECT_ROOT
from dlgrader.verifier import LABELS, load_verifier
from dlgrader.verifier.data import data_hash, folds_by_group, load_pairs
from dlgrader.verifier.train import TrainSettings, length_bucketed_batches

PAIRS = PROJECT_ROOT / "corpus" / "verifier"


@pytest.fixture(scope="module")
def verifier():  # type: ignore[no-untyped-def]
    return load_verifier(DEFAULT_VERIFIER_DIR)


def test_the_shipped_model_is_not_stale() -> None:
    """The manifest names the hash of the training pairs and settings it was trained on: change a pair (or
    a setting) and this fails until `dlgrader verifier train` is run again."""
    manifest = json.loads((DEFAULT_VERIFIER_DIR / "manifest.json").read_text(encoding="utf-8"))
    settings = TrainSettings(**manifest["settings"])
    assert manifest["data_hash"] == data_hash(load_pairs(PAIRS), manifest["settings"]), \
        "corpus/verifier changed since the model was trained: run `dlgrader verifier train`"
    assert settings.seed == 13 and manifest["labels"] == list(LABELS)
    size = (DEFAULT_VERIFIER_DIR / "model.int8.onnx").stat().st_size
    assert size < 40 * 1024 * 1024


def test_training_data_covers_every_key_point_and_keeps_questions_apart() -> None:
    pairs = load_pairs(PAIRS)
    assert len(pairs) >= 6000
    rubric = {p.stem: json.loads(p.read_text(encoding="utf-8"))
              for p in (PROJECT_ROOT / "corpus" / "rubric").glob("*.json")}
    per_point: dict[tuple[str, str], set[str]] = {}
    for p in pairs:
        if not p.group.startswith("generic:") and not p.rephrased:
            assert p.hypothesis in {kp["text"] for kp in rubric[p.group]["key_points"]}, (p.group, p.hypothesis)
            per_point.setdefault((p.group, p.hypothesis), set()).add(p.label)
    total_points = sum(len(entry["key_points"]) for entry in rubric.values())
    assert len(per_point) == total_points
    assert all(labels == set(LABELS) for labels in per_point.values())
    assert sum(p.rephrased for p in pairs) < len(pairs) / 4  # the bank's own wording stays the main part
    folds = folds_by_group(pairs, 5)
    fold_of_group: dict[str, int] = {}
    for p, fold in zip(pairs, folds, strict=True):
        assert fold_of_group.setdefault(p.group, fold) == fold


def test_no_training_premise_repeats_an_evaluation_text() -> None:
    """Held-out pairs and dev-set answers are reported, never trained on: a training premise (this folder's
    or the next run's) that repeats one, up to case and punctuation, would flatter the figures."""
    def words(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.lower()))

    bench = PROJECT_ROOT / "bench"
    evaluation = {words(json.loads(line)[field])
                  for folder, field in (("verifier", "premise"), ("devset", "answer"))
                  for path in (bench / folder).glob("*.jsonl")
                  for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
    training = load_pairs(PAIRS) + load_pairs(PAIRS / "next")
    assert len(evaluation) > 1500
    assert [p.premise for p in training if words(p.premise) in evaluation] == []


def test_int8_agrees_with_fp32_on_the_recorded_pairs(verifier) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(line) for line in (DEFAULT_VERIFIER_DIR / "check.jsonl").read_text().splitlines()]
    probs = verifier.predict([(r["premise"], r["hypothesis"]) for r in rows])
    agree = sum(LABELS[int(p.argmax())] == r["fp32_label"] for p, r in zip(probs, rows, strict=True)) / len(rows)
    assert len(rows) >= 100 and agree >= 0.93


# Hand-written here, in words unlike the training pairs: what a candidate might write against a key point.
# Cases it still gets wrong are kept out of this list and named in the README: a correct answer that names
# both sides ("dropout is only active while training; at test time every unit is used") read as a
# contradiction (0.96), and a student/teacher paraphrase of distillation read as neutral.
CASES = [
    ("relu(z) = max(0, z)", "ReLU outputs the input for positive values and zero for negative values.", "entailment"),
    ("In a GAN the discriminator produces the fake images and the generator judges them.",
     "In a GAN the generator creates fake samples and the discriminator tries to tell them apart from real data.",
     "contradiction"),
    ("Softmax gives each class a score between 0 and 1, and the scores add up to 10.",
     "Softmax outputs are probabilities between 0 and 1 that sum to 1.", "contradiction"),
    ("Sigmoid squashes its input into the range -1 to 1.",
     "The sigmoid function maps any input to a value between 0 and 1.", "contradiction"),
    ("Knowledge distillation trains the big teacher to copy the small student's outputs.",
     "In knowledge distillation a small student model learns to mimic a larger teacher model.", "contradiction"),
    ("Batch norm is used a lot in CNNs.",
     "Batch normalization normalizes each layer's inputs using the mean and variance of the mini-batch.", "neutral"),
    ("People keep dropout running during inference so the predictions stay regularised.",
     "Dropout is switched off at inference time, when all neurons are active.", "contradiction"),
    ("Softmax gives each class a probability between -1 and 1, and they sum to 2.",
     "Softmax outputs are probabilities between 0 and 1 that sum to 1.", "contradiction"),
    ("Transformers read the tokens one by one, sequentially, like an RNN.",
     "A Transformer processes all input positions simultaneously, in parallel.", "contradiction"),
]


@pytest.mark.parametrize(("premise", "hypothesis", "label"), CASES)
def test_behaviour_on_unseen_wording(verifier, premise: str, hypothesis: str, label: str) -> None:  # type: ignore[no-untyped-def]
    probs = verifier.predict([(premise, hypothesis)])[0]
    assert LABELS[int(probs.argmax())] == label, dict(zip(LABELS, probs.round(3).tolist(), strict=True))


def test_predict_cli_keeps_order_and_costs_a_bad_line_only_that_line(tmp_path: Path) -> None:
    relu, gan_swapped = CASES[0], CASES[1]
    good = {"id": "a", "premise": relu[0], "hypothesis": relu[1]}
    lines = [json.dumps(good), "{not json", json.dumps({"id": "c", "premise": "", "hypothesis": "x"}),
             json.dumps({"premise": gan_swapped[0], "hypothesis": gan_swapped[1]})]
    source = tmp_path / "pairs.jsonl"
    source.write_bytes(("\n".join(lines[:2]) + "\n").encode() + b"\xff\xfe broken\n"
                       + ("\n".join(lines[2:]) + "\n").encode())
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(cli, ["verifier", "predict", str(source), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "line-2", "line-3", "c", "line-5"]
    assert rows[0]["label"] == "entailment" and set(rows[0]["probs"]) == set(LABELS)  # relu as a formula
    assert "error" in rows[1] and "error" in rows[2] and "error" in rows[3]
    assert rows[4]["label"] == "contradiction"  # generator and discriminator swapped
    assert abs(sum(rows[4]["probs"].values()) - 1) < 1e-3


@pytest.fixture(scope="module")
def verified(grader, verifier):  # type: ignore[no-untyped-def]
    """The session grader's bank, model and index, with the shipped verifier (its default, blend mode)."""
    from dlgrader.service import Grader

    return Grader(bank=grader.bank, embedder=grader.embedder, index=grader.index, verifier=verifier)


def test_a_wrong_belief_is_contradicted_and_corrected(verified) -> None:  # type: ignore[no-untyped-def]
    answer = ("Dropout randomly switches off neurons. You keep it switched on at inference time too, so that "
              "the predictions stay regularised.")
    result = verified.grade(answer, question_id="dropout")
    inference = result.key_points[3]
    assert inference.verdict == "contradicted", [(k.verdict, k.note) for k in result.key_points]
    assert "contradiction" in result.flag_codes and result.score is not None and result.score <= 35
    assert result.misconceptions and "inference" in result.misconceptions[0].correction.lower()


def test_the_fast_path_keeps_embedding_only_grading(grader) -> None:  # type: ignore[no-untyped-def]
    assert grader.verifier is None
    result = grader.grade("Dropout randomly switches off neurons during training.", question_id="dropout")
    assert result.status == "graded" and result.key_points[0].verdict in ("covered", "partial")


@pytest.mark.parametrize(
    ("question_id", "answer"),
    [
        ("softmax", "softmax(z)_i = exp(z_i) / sum_j exp(z_j); outputs positive, sum to 1"),
        ("l1_regularization", "adds lambda*sum|w| -> sparse weights, many exactly 0"),
    ],
)
def test_a_correct_formula_or_terse_answer_is_not_taken_for_a_keyword_list(verified, question_id: str,
                                                                           answer: str) -> None:  # type: ignore[no-untyped-def]
    result = verified.grade(answer, question_id=question_id)
    assert "keyword_list" not in result.flag_codes
    assert result.score is not None and result.score >= 60, result.summary


def test_train_command_rebuilds_a_loadable_model_from_a_pairs_folder(tmp_path: Path) -> None:
    """`dlgrader verifier train` end to end on a tiny folder (one step): fine-tune, export to ONNX, quantise,
    write the manifest; the result loads and predicts. Catches a missing export dependency on a fresh install."""
    lines = (PAIRS / "pairs_in_context_A.jsonl").read_text(encoding="utf-8").splitlines()[:16]
    pairs_dir = tmp_path / "pairs"
    pairs_dir.mkdir()
    (pairs_dir / "tiny.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = CliRunner().invoke(cli, ["verifier", "train", "--pairs", str(pairs_dir), "--output", str(out),
                                      "--epochs", "1"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["pairs"] == 16 and manifest["data_hash"]
    probs = load_verifier(out).predict([("ReLU outputs max(0, x).", "ReLU returns the input if positive.")])
    assert probs.shape == (1, len(LABELS)) and abs(float(probs.sum()) - 1) < 1e-3


def test_length_bucketed_batches_see_every_pair_once_and_pad_little() -> None:
    pairs = load_pairs(PAIRS)[:2000]
    settings = TrainSettings(batch_size=16, bucket_batches=10)
    batches = length_bucketed_batches(pairs, settings, random.Random(13))
    assert sorted(i for b in batches for i in b) == list(range(len(pairs)))
    assert batches == length_bucketed_batches(pairs, settings, random.Random(13))  # deterministic

    def padding(batch_list: list[list[int]]) -> int:
        lengths = [[len(pairs[i].premise) + len(pairs[i].hypothesis) for i in b] for b in batch_list]
        return sum(max(b) * len(b) - sum(b) for b in lengths)

    shuffled = list(range(len(pairs)))
    random.Random(13).shuffle(shuffled)
    plain = [shuffled[k:k + 16] for k in range(0, len(shuffled), 16)]
    assert padding(batches) < padding(plain) / 3
