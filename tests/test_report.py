"""`dlgrader report`: summary, agreement with labels (bad labels reported per line), CSV/JSON/HTML,
and the HTML rendered in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import pearsonr, spearmanr

from dlgrader.cli import cli
from dlgrader.metrics import Scale, qwk


def _result(i: int, qid: str, score: float, label: object, *, question: str | None = None,
            missed: tuple[int, ...] = (), flags: tuple[str, ...] = ()) -> dict[str, object]:
    kps = [{"index": k, "text": f"{qid} point {k}", "verdict": "missing" if k in missed else "covered",
            "similarity": 0.5, "credit": 0.0 if k in missed else 1.0} for k in range(3)]
    return {"status": "graded", "id": f"a{i}", "question_id": qid, "question": question or f"About {qid}?",
            "score": score, "grade": round(score / 10) / 2, "key_points": kps,
            "flags": [{"code": c, "message": c} for c in flags], "summary": f"summary {i}", "label": label}


@pytest.fixture
def results(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """60 graded answers to three bank questions with labels 0-5, plus bad labels and other statuses."""
    rng = np.random.default_rng(3)
    rows: list[dict[str, object]] = []
    scores, labels = [], []
    for i in range(60):
        qid = ("dropout", "relu", "overfitting_and_underfitting")[i % 3]
        label = float(rng.integers(0, 11) / 2)
        score = float(np.clip(label * 20 + rng.normal(0, 15), 0, 100).round(1))
        rows.append(_result(i, qid, score, label, missed=(1,) if label < 3 else (),
                            flags=("too_short",) if i % 10 == 0 else ()))
        scores.append(score)
        labels.append(label)
    rows.append(_result(60, "dropout", 40.0, "good"))  # text in a numeric column
    rows.append(_result(61, "relu", 70.0, None))  # missing label
    rows.append({"status": "unknown_question", "id": "u1", "question_id": "gans_v2", "label": 3})
    rows.append({"status": "invalid", "id": "v1", "error": "line 9: missing 'answer'"})
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "this line is not JSON\n")
    return path, np.array(scores), np.array(labels)


def test_summary_and_agreement_with_bad_labels_reported_per_line(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: E501
    path, scores, labels = results
    out_json, out_csv = tmp_path / "s.json", tmp_path / "s.csv"
    run = CliRunner().invoke(cli, ["report", str(path), "--labels", "label", "--json", str(out_json),
                                   "--csv", str(out_csv)])
    assert run.exit_code == 0, run.output
    assert "64 results (62 graded, 1 invalid, 1 unknown_question)" in run.output
    assert "line 61 (id a60): label 'good' is not a number" in run.output
    assert "line 62 (id a61): no label" in run.output
    assert "1 unreadable line(s), first: line 65" in run.output

    data = json.loads(out_json.read_text())
    lab = data["labels"]
    assert lab["n"] == 60 and lab["issue_count"] == 2
    pred = scores / 100 * 5
    assert lab["overall"]["pearson"]["value"] == pytest.approx(pearsonr(pred, labels)[0])
    assert lab["overall"]["spearman"]["value"] == pytest.approx(spearmanr(pred, labels)[0])
    assert lab["overall"]["qwk"]["value"] == pytest.approx(qwk(pred, labels, Scale(0, 5, 0.5)))
    assert lab["overall"]["rmse"]["value"] == pytest.approx(np.sqrt(np.mean((pred - labels) ** 2)))
    low, high = lab["overall"]["pearson"]["low"], lab["overall"]["pearson"]["high"]
    assert low < lab["overall"]["pearson"]["value"] < high
    worst = int(np.argmax(np.abs(pred - labels)))
    assert lab["disagreements"][0]["id"] == f"a{worst}"
    assert lab["disagreements"][0]["summary"] == f"summary {worst}"
    assert data["unknown_questions"] == {"gans_v2": 1}
    assert data["flags"] == {"too_short": 6}
    assert data["missed"][0]["text"].endswith("point 1")
    topics = {t["key"]: t for t in data["topics"]}
    assert topics["regularisation"]["n"] == 41 and topics["activations"]["n"] == 21  # from the bank

    rows = list(csv.DictReader(out_csv.open()))
    assert rows[0]["level"] == "overall" and float(rows[0]["pearson"]) == pytest.approx(
        lab["overall"]["pearson"]["value"], abs=1e-4)
    per_question = {r["key"]: r for r in rows if r["level"] == "question"}
    mask = np.arange(60) % 3 == 1  # relu
    expected = pearsonr(pred[mask], labels[mask])[0]
    assert float(per_question["relu"]["pearson"]) == pytest.approx(expected, abs=1e-4)


def test_labels_from_a_separate_file_joined_by_id(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = results
    sheet = tmp_path / "marks.csv"
    sheet.write_text("answer_id,teacher\na0,5\na1,oops\na2,1\n")
    out_json = tmp_path / "s.json"
    run = CliRunner().invoke(cli, ["report", str(path), "--labels", "teacher", "--labels-file", str(sheet),
                                   "--id-column", "answer_id", "--scale", "0-5:0.5", "--json", str(out_json)])
    assert run.exit_code == 0, run.output
    lab = json.loads(out_json.read_text())["labels"]
    assert lab["n"] == 2  # a0 and a2; a1 is text; the rest have no mark on the sheet
    assert lab["issue_count"] == 60
    assert "line 2 (id a1): label 'oops' is not a number (marks.csv line 3)" in run.output
    assert "line 4 (id a3): no label (not in marks.csv)" in run.output


def test_report_without_labels_and_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_result(0, "dropout", 55.0, None)) + "\n")
    run = CliRunner().invoke(cli, ["report", str(path)])
    assert run.exit_code == 0 and "agreement" not in run.output and "mean 55.0" in run.output
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    run = CliRunner().invoke(cli, ["report", str(empty)])
    assert run.exit_code == 1 and "holds no grading results" in run.output


def test_bad_scale_is_a_usage_error(results) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke(cli, ["report", str(results[0]), "--labels", "label", "--scale", "5-0"])
    assert run.exit_code == 2 and "LOW-HIGH" in run.output


def test_html_is_self_contained_with_the_charts(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    html_path = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["report", str(results[0]), "--labels", "label", "--html", str(html_path)])
    assert run.exit_code == 0, run.output
    page = html_path.read_text()
    for chart in ("chart-histogram", "chart-topics", "chart-scatter"):
        assert f'id="{chart}"' in page
    assert page.count("<script") == 1 and "<script>" in page  # the answer filters, inline: no src
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link" not in page


# ---------------------------------------------------------------- headless Chromium


def _chromium() -> str | None:
    found = (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))
    return next((path for path in found if path), None)


def _chrome(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    base = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}"]
    return subprocess.run(base + list(args), capture_output=True, text=True, timeout=120)


def png_pixels(path: Path, max_rows: int) -> tuple[int, int, int, list[bytes]]:
    """(width, height, channels, first rows of pixels) of an 8-bit non-interlaced RGB(A) PNG (no Pillow)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    channels = 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(min(height, max_rows)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, channels, rows


@pytest.mark.browser
def test_html_renders_in_headless_chromium(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install Debian's package: apt-get install -y chromium)")
    html_path = tmp_path / "report.html"
    assert CliRunner().invoke(cli, ["report", str(results[0]), "--labels", "label",
                                    "--html", str(html_path)]).exit_code == 0
    url = html_path.resolve().as_uri()
    dom = _chrome(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('class="bar"') == 10 + 2  # ten histogram bars, one per topic (two here)
    for chart in ("chart-histogram", "chart-topics", "chart-scatter"):
        assert f'id="{chart}"' in dom.stdout
    assert dom.stdout.count('class="point"') == 60
    shot = tmp_path / "report.png"
    taken = _chrome(binary, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert taken.returncode == 0 and shot.is_file(), taken.stderr[-2000:]
    width, height, channels, top = png_pixels(shot, max_rows=700)  # the charts sit at the top of the page
    assert (width, height) == (1200, 2000)
    pixels = [row[i:i + 3] for row in top[::2] for i in range(0, len(row), channels * 2)]
    assert len(set(pixels)) > 20, "the screenshot looks blank"
    bar_blue = sum(1 for p in pixels if p == bytes((0x48, 0x78, 0xA8)))
    assert bar_blue > 500, "no chart bars in the screenshot"


def test_calibrated_results_are_compared_on_the_calibrated_scale(tmp_path: Path) -> None:
    rows = []
    for i in range(30):
        row = _result(i, "dropout", float(i * 3), float(i % 11))
        row.update(calibrated_score=i / 3, calibrated_scale="0-10")
        rows.append(row)
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "s.json"
    run = CliRunner().invoke(cli, ["report", str(path), "--labels", "label", "--json", str(out)])
    assert run.exit_code == 0, run.output
    lab = json.loads(out.read_text())["labels"]
    assert lab["prediction"] == "calibrated_score"
    assert lab["scale"] == {"low": 0.0, "high": 10.0, "step": 1.0}
    pred, gold = np.arange(30) / 3, np.arange(30) % 11
    assert lab["overall"]["mae"]["value"] == pytest.approx(np.mean(np.abs(pred - gold)))


# ---------------------------------------------------------------- the report as a workplace


def _with_answers(results_path: Path, tmp_path: Path) -> Path:
    """The fixture's results with answer texts, evidence spans, a second grader's label and one answer
    that tries to inject markup."""
    rows = []
    for line in results_path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row.get("status") == "graded":
            n = int(str(row["id"])[1:])
            row["answer"] = f"Answer {n} <script>alert(1)</script> states the first point and more."
            start = row["answer"].index("states")
            row["key_points"][0]["evidence"] = {"text": "states the first point", "start": start,
                                                "end": start + len("states the first point")}
            if isinstance(row.get("label"), float):
                row["second"] = min(5.0, row["label"] + (0.5 if n % 2 else 0.0))
        rows.append(row)
    path = tmp_path / "answers_results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_two_label_columns_give_the_people_yardstick(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _with_answers(results[0], tmp_path)
    out = tmp_path / "summary.json"
    run = CliRunner().invoke(cli, ["report", str(path), "--labels", "label,second", "--scale", "0-5:0.5",
                                   "--json", str(out)])
    assert run.exit_code == 0, run.output
    assert "label vs second" in run.output
    lab = json.loads(out.read_text())["labels"]
    second = lab["second"]
    first = np.array([float(json.loads(x)["label"]) for x in path.read_text().splitlines()
                      if '"second"' in x])
    assert second["column"] == "second" and second["n"] == len(first) == 60
    other = np.minimum(5.0, first + np.array([0.5 if i % 2 else 0.0 for i in range(60)]))
    assert second["humans"]["mae"]["value"] == pytest.approx(np.mean(np.abs(first - other)))
    matrix = np.array(lab["confusion"]["counts"])
    assert lab["confusion"]["bins"][0] == "0" and lab["confusion"]["bins"][-1] == "5"
    assert matrix.shape == (11, 11) and matrix.sum() == 60


def test_three_label_columns_are_a_usage_error(results) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke(cli, ["report", str(results[0]), "--labels", "a,b,c"])
    assert run.exit_code == 1 and "two as 'first,second'" in run.output


def test_html_answer_views_escape_answers_and_mark_evidence(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = _with_answers(results[0], tmp_path)
    page = tmp_path / "report.html"
    run = CliRunner().invoke(cli, ["report", str(path), "--labels", "label", "--answers", "25",
                                   "--html", str(page)])
    assert run.exit_code == 0, run.output
    html = page.read_text()
    assert html.count('<details class="answer"') == 25 and html.count('class="answer-row"') == 25
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<mark class="covered" title="key point 1">states the first point</mark>' in html
    # Three questions of 20 labelled answers each: figures; no question has fewer than 10 here.
    assert "too few labelled answers" not in html
    for metric in ("Linear correlation", "Quadratic weighted kappa", "Mean absolute error"):
        assert metric in html
    assert 'id="confusion"' in html and "<script>" in html  # the filter script, inline


def test_small_groups_get_a_warning_instead_of_figures(tmp_path: Path) -> None:
    rows = [_result(i, ("dropout", "relu")[i % 2] if i < 30 else "gan", float(i * 2), float(i % 6))
            for i in range(34)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = tmp_path / "r.html"
    assert CliRunner().invoke(cli, ["report", str(path), "--labels", "label", "--html", str(page)]).exit_code == 0
    html = page.read_text()
    assert "too few labelled answers (4) for meaningful figures" in html  # gan: 4 answers
    assert html.count("too few labelled answers") == 1 + 1  # the question, and its topic


@pytest.mark.browser
def test_answer_filters_and_views_work_in_headless_chromium(results, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install Debian's package: apt-get install -y chromium)")
    path = _with_answers(results[0], tmp_path)
    page = tmp_path / "report.html"
    assert CliRunner().invoke(cli, ["report", str(path), "--labels", "label", "--html", str(page)]).exit_code == 0
    url = page.resolve().as_uri()
    records = [json.loads(x) for x in path.read_text().splitlines()]
    labelled = [r for r in records if r["status"] == "graded" and isinstance(r["label"], float)]
    flagged = sum(bool(r["flags"]) for r in labelled)
    dom = _chrome(binary, tmp_path / "p1", "--dump-dom", f"{url}#flag=too_short")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert f">{flagged} of 60 shown<" in dom.stdout  # the 60 labelled answers, the flagged ones left
    rows = [r for r in dom.stdout.split("<tr ") if r.startswith('class="answer-row"')]
    assert len(rows) == 60 and sum(' hidden=""' in r for r in rows) == 60 - flagged
    line = next(i for i, r in enumerate(records, 1) if r.get("id") == "a7")
    opened = _chrome(binary, tmp_path / "p2", "--dump-dom", f"{url}#a-{line}")
    assert re.search(rf'<details class="answer" id="a-{line}"[^>]* open=""', opened.stdout)
    assert len(re.findall(r'<details class="answer"[^>]* open=""', opened.stdout)) == 1
    gap = _chrome(binary, tmp_path / "p3", "--dump-dom", f"{url}#gap=1")
    big = sum(abs(r["score"] / 20 - r["label"]) >= 1 for r in labelled)
    assert 0 < big < 60
    assert f">{big} of 60 shown<" in gap.stdout
