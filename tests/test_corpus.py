"""The committed question bank, its validator, and the extraction step it is built from."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from dlgrader.cli import cli
from dlgrader.corpus.build import build_bank, load_curated
from dlgrader.corpus.loader import load_bank
from dlgrader.corpus.parsers import PARSERS, parser_for
from dlgrader.corpus.validate import validate_bank_file
from dlgrader.errors import CorpusValidationError
from dlgrader.models import TOPICS

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"


def test_committed_bank_validates() -> None:
    count, problems = validate_bank_file(CORPUS / "questions.jsonl")
    assert problems == []
    assert count >= 130


def test_cli_validate_passes_on_committed_bank() -> None:
    result = CliRunner().invoke(cli, ["corpus", "validate", str(CORPUS / "questions.jsonl")])
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output


def _broken_copy(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(CORPUS / "sources", tmp_path / "sources")
    lines = (CORPUS / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    mutate(record)
    lines[2] = json.dumps(record)
    bank = tmp_path / "questions.jsonl"
    bank.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bank


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["sources"][0].update(excerpt=r["sources"][0]["excerpt"] + " and invented words"),
         "not found verbatim"),
        (lambda r: r["key_points"][0].update(text="Quantum entanglement teleports gradients across galaxies."),
         "not supported"),
        (lambda r: r.update(reference_answer="   "), "reference_answer"),
        (lambda r: r.update(id="neural network!"), "id"),
        (lambda r: r.update(key_points=r["key_points"][:1]), "at least 2"),
    ],
)
def test_validator_names_the_line_of_a_broken_bank(tmp_path: Path, mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    bank = _broken_copy(tmp_path, mutate)
    result = CliRunner().invoke(cli, ["corpus", "validate", str(bank)])
    assert result.exit_code != 0
    assert "line 3" in result.output
    assert expected in result.output


def test_validator_reports_bad_json_and_duplicate_ids(tmp_path: Path) -> None:
    lines = (CORPUS / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    bank = tmp_path / "questions.jsonl"
    bank.write_text("\n".join([*lines, lines[0], "{not json"]) + "\n", encoding="utf-8")
    shutil.copytree(CORPUS / "sources", tmp_path / "sources")
    _, problems = validate_bank_file(bank)
    assert any("line 4" in p and "duplicate id" in p for p in problems)
    assert any("line 5" in p and "invalid JSON" in p for p in problems)
    with pytest.raises(CorpusValidationError):
        load_bank(bank)


def test_every_source_article_is_covered_or_explained() -> None:
    bank = load_bank(CORPUS / "questions.jsonl")
    per_article: dict[str, int] = {}
    for q in bank.questions:
        for doc in q.documents:
            per_article[doc] = per_article.get(doc, 0) + 1
    assert set(per_article) == set(PARSERS)
    assert per_article["000_984f2830a633304f.txt"] >= 45
    assert per_article["002_2fb84cbebc818e76.txt"] >= 30
    assert per_article["003_974ae0b661a5fe52.txt"] >= 15
    assert per_article["004_59de16f5a49321a3.txt"] >= 45


def test_bank_shape() -> None:
    bank = load_bank(CORPUS / "questions.jsonl")
    assert {q.topic for q in bank.questions} <= set(TOPICS)
    assert all(3 <= len(q.key_points) <= 8 for q in bank.questions)
    merged = [q for q in bank.questions if len(q.documents) > 1]
    assert len(merged) >= 20
    dropout = bank.get("dropout")
    assert dropout is not None and len(dropout.documents) >= 2 and len(dropout.aliases) >= 3


def test_every_entry_is_a_rubric() -> None:
    bank = load_bank(CORPUS / "questions.jsonl")
    for q in bank.questions:
        weights = [kp.weight for kp in q.key_points]
        assert "core" in weights, q.id
        assert len(q.misconceptions) >= 2 and all(m.editorial for m in q.misconceptions), q.id
        assert all(m.contradicts is None or m.contradicts < len(q.key_points) for m in q.misconceptions), q.id
        assert all(kp.refs or kp.editorial for kp in q.key_points), q.id
        assert all(s.title for s in q.sources), q.id
    per_topic = Counter(q.topic for q in bank.questions)
    assert max(per_topic.values()) <= 0.15 * len(bank)


def test_merged_entries_keep_their_old_ids() -> None:
    bank = load_bank(CORPUS / "questions.jsonl")
    for old, new in {"lstm_vs_gru": "rnn_vs_lstm_vs_gru", "seq2seq": "encoder_decoder",
                     "how_neural_networks_learn": "forward_and_backward_propagation",
                     "transfer_learning_vs_fine_tuning": "fine_tuning"}.items():
        found = bank.get(old)
        assert found is not None and found.id == new


def test_corrections_named_in_the_review_are_editorial() -> None:
    bank = load_bank(CORPUS / "questions.jsonl")
    tf = bank.get("tensorflow_vs_pytorch")
    assert tf is not None and any(kp.editorial and "eager" in kp.text.lower() for kp in tf.key_points)
    softmax = bank.get("softmax")
    assert softmax is not None and any("sum to 1" in kp.text or "sums to 1" in kp.text for kp in softmax.key_points)
    valid_same = bank.get("valid_vs_same_padding")
    assert valid_same is not None and any(s.locator == "TOC 14" for s in valid_same.sources)


def test_curated_data_is_in_step_with_the_parsers() -> None:
    """Every block a parser finds is curated or excluded, and every curated locator is a real block."""
    items, excluded = load_curated(CORPUS)
    for document in PARSERS:
        blocks = parser_for(document)((CORPUS / "sources" / document).read_text(encoding="utf-8"), document)
        locators = {b.locator for b in blocks}
        curated = {str(item["locator"]) for doc, item in items if doc == document}
        skipped = {e.locator for e in excluded if e.document == document}
        assert curated <= locators, f"{document}: curated locators without a block: {curated - locators}"
        assert locators <= curated | skipped, f"{document}: blocks neither curated nor excluded: " \
            f"{locators - curated - skipped}"


def _corpus_copy(tmp_path: Path) -> Path:
    for name in ("sources", "curated", "rubric"):
        shutil.copytree(CORPUS / name, tmp_path / name)
    return tmp_path


def test_build_is_reproducible(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    build_bank(_corpus_copy(tmp_path), real_embedder)
    assert (tmp_path / "questions.jsonl").read_text() == (CORPUS / "questions.jsonl").read_text()
    assert (tmp_path / "excluded.jsonl").read_text() == (CORPUS / "excluded.jsonl").read_text()


def test_build_refuses_a_curated_fact_nobody_decided_about(tmp_path: Path) -> None:
    root = _corpus_copy(tmp_path)
    rubric = root / "rubric" / "dropout.json"
    entry = json.loads(rubric.read_text(encoding="utf-8"))
    lost = entry["key_points"].pop(0)["from"]  # cited by no other entry
    entry["misconceptions"] = [m for m in entry["misconceptions"] if m["contradicts"] in (None, 1, 2, 3)]
    rubric.write_text(json.dumps(entry), encoding="utf-8")
    with pytest.raises(CorpusValidationError) as caught:
        build_bank(root)
    assert any(ref in problem and "neither cited" in problem for ref in lost for problem in caught.value.problems)


def test_build_refuses_look_alike_key_points_without_a_decision(  # type: ignore[no-untyped-def]
        tmp_path: Path, real_embedder) -> None:
    root = _corpus_copy(tmp_path)
    rubric = root / "rubric" / "dropout.json"
    entry = json.loads(rubric.read_text(encoding="utf-8"))
    first = entry["key_points"][0]
    reworded = first["text"].replace("During training, dropout", "Dropout, during training,")
    entry["key_points"].append({**first, "text": reworded, "weight": "supporting"})
    rubric.write_text(json.dumps(entry), encoding="utf-8")
    with pytest.raises(CorpusValidationError) as caught:
        build_bank(root, real_embedder)
    assert any("dropout.json" in p and "look like one fact" in p for p in caught.value.problems)


def test_minimal_teacher_bank_derives_key_points(tmp_path: Path) -> None:
    bank_file = tmp_path / "mine.csv"
    bank_file.write_text(
        "id,question,reference_answer\n"
        "q1,What is a tensor?,A tensor is a multi-dimensional array. Deep learning frameworks store data in tensors.\n",
        encoding="utf-8",
    )
    bank = load_bank(bank_file)
    assert [kp.text for kp in bank.questions[0].key_points] == [
        "A tensor is a multi-dimensional array.", "Deep learning frameworks store data in tensors."]
    assert validate_bank_file(bank_file)[1] == []


def test_stats_json() -> None:
    result = CliRunner().invoke(cli, ["corpus", "stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["questions"] >= 130 and set(data["per_article"]) == set(PARSERS)
