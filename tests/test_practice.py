"""The practice loop end to end: `dlgrader practice` driven through stdin/stdout with the real model."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from conftest import with_feedback
from dlgrader.practice import PracticeOptions, PracticeSession, gist, plan, when
from dlgrader.progress import HINT_FACTOR, CardInfo, ProgressStore
from fake_llm_server import FakeLLMServer, Reply, judge

DLGRADER = str(Path(sys.executable).with_name("dlgrader"))


def _env(**extra: str) -> dict[str, str]:
    # The autouse fixture already points DLGRADER_DATA_DIR / DLGRADER_INDEX_DIR at temp dirs.
    return {**os.environ, "COLUMNS": "200", "HF_HUB_OFFLINE": "1", **extra}


def _db() -> sqlite3.Connection:
    return sqlite3.connect(Path(os.environ["DLGRADER_DATA_DIR"]) / "progress.db")


def _opening(text: str, sentences: int) -> str:
    return ". ".join(text.split(". ")[:sentences]).rstrip(".") + "."


# ---------------------------------------------------------------- piped session (no TTY)


def test_a_full_piped_session_prints_plain_text_and_stores_every_attempt(grader, product_grader):  # type: ignore[no-untyped-def]
    q = grader.bank.questions[:6]  # due mode on an empty database asks new questions in bank order
    good = _opening(q[0].reference_answer, 3)
    partial = _opening(q[1].reference_answer, 1)
    poor = "I am not sure, it has something to do with data."
    script = "\n".join([
        good, "", "ref", "",              # Q1: answer; at the rating prompt the reference, then accept
        "hint", partial, "", "2",         # Q2: a hint, a one-sentence answer, rating changed to Hard
        "skip",                           # Q3: give up: the reference, rated Again
        "ref",                            # Q4: the same, as "ref"
        "repeat", poor, "", "",           # Q5: repeat the question, then a poor answer, rating accepted
        good, "", "",                     # Q6: after three other questions, Q3 comes back
        "quit",                           # Q3 again
    ]) + "\n"
    proc = subprocess.run([DLGRADER, "practice", "--count", "8"], input=script, capture_output=True,
                          text=True, env=_env(), timeout=240)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[" not in out  # plain text when piped
    for i, question in enumerate(q[:6], 1):
        assert f"Question {i} of 8" in out and question.question in out
    assert "Question 7 of 8" not in out
    assert out.count(q[4].question) >= 3  # asked, repeated, and above its result
    assert "Again: you missed this one earlier in this session" in out
    assert out.count(q[2].question) >= 2
    assert "finish with an empty line (or Ctrl-D)" in out
    assert f"Hint: {gist(q[1].key_points[0].text)}" in out
    assert out.count("Reference answer:") == 3 and f"Reference answer: {q[3].reference_answer[:80]}" in out
    assert "Sources: " in out and "Q" in out.split("Sources: ")[1].splitlines()[0]
    assert "Score ███" in out and "/100" in out and "✔" in out and "✘" in out
    assert "Suggested rating: " in out and "(you changed it from " in out and "Rated Hard" in out
    assert "next review in" in out and "1 hint: stored score" in out
    assert "counts as not known" in out
    assert "You quit: 4 graded" in out and "1 skipped, 1 revealed, 1 hint, 1 asked again" in out

    with _db() as conn:
        rows = conn.execute("SELECT id, question_id, status, hints, score, credited_score, rating, answer, "
                            "suggested_rating FROM attempts ORDER BY id").fetchall()
        assert [(r[1], r[2], r[3]) for r in rows] == [
            (q[0].id, "graded", 0), (q[1].id, "graded", 1), (q[2].id, "skipped", 0), (q[3].id, "revealed", 0),
            (q[4].id, "graded", 0), (q[5].id, "graded", 0)]
        assert rows[0][7] == good and rows[4][7] == poor
        assert rows[0][4] == product_grader.grade(good, question_id=q[0].id).score
        assert rows[0][4] > 60 > 20 > rows[4][4]
        assert rows[1][5] == pytest.approx(round(rows[1][4] * HINT_FACTOR, 1))
        assert rows[1][6] == 2  # changed to Hard by the learner
        assert rows[2][6] == rows[3][6] == 1  # gave up: rated Again
        n_kp = conn.execute("SELECT COUNT(*) FROM key_point_results").fetchone()[0]
        assert n_kp == sum(len(x.key_points) for x in (q[0], q[1], q[4], q[5]))
        cards = {r[0] for r in conn.execute("SELECT question_id FROM cards")}
        assert cards == {x.id for x in q}
    conn.close()

    # --mode weakest starts from the lowest stored score: Q4 (revealed, credited 0) or Q5 (the poor answer).
    scores = {r[1]: r[5] for r in rows if r[5] is not None}
    lowest = min(scores.values())
    weakest_ids = {qid for qid, score in scores.items() if score == lowest}
    later = subprocess.run([DLGRADER, "practice", "--count", "1", "--mode", "weakest"], input="quit\n",
                           capture_output=True, text=True, env=_env(), timeout=240)
    assert "Question 1 of 1" in later.stdout
    assert any(x.question in later.stdout for x in q if x.id in weakest_ids)


def test_topic_and_difficulty_filter_the_questions(grader):  # type: ignore[no-untyped-def]
    first = next(x for x in grader.bank.questions if x.topic == "cnn" and x.difficulty == "intermediate")
    proc = subprocess.run([DLGRADER, "practice", "--topic", "cnn", "--difficulty", "intermediate"],
                          input="quit\n", capture_output=True, text=True, env=_env(NO_COLOR="1"), timeout=240)
    assert proc.returncode == 0
    assert first.question in proc.stdout and "cnn · intermediate" in proc.stdout
    bad = subprocess.run([DLGRADER, "practice", "--topic", "astrology"], capture_output=True, text=True,
                         env=_env(), timeout=60)
    assert bad.returncode == 2 and "astrology" in bad.stderr and "activations" in bad.stderr


# ---------------------------------------------------------------- a real terminal: Ctrl-D and Ctrl-C


def _default_sigint() -> None:
    # A test run started in the background of a non-interactive shell (`make test &`) ignores SIGINT, and an
    # ignored signal stays ignored across exec: the child would never see the Ctrl-C this test sends.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _spawn(*args: str) -> pexpect.spawn:
    return pexpect.spawn(DLGRADER, ["practice", *args], env=_env(TERM="dumb"), encoding="utf-8", timeout=120,
                         dimensions=(50, 160), preexec_fn=_default_sigint)


def test_ctrl_d_submits_the_answer_typed_so_far_and_ends_the_session(grader):  # type: ignore[no-untyped-def]
    q = grader.bank.questions
    child = _spawn("--count", "3")
    child.expect("Question 1 of 3")
    child.expect("> ")
    child.sendline(_opening(q[0].reference_answer, 2))
    child.sendline("")
    child.expect("next review in")
    child.expect("Enter: accept")
    child.sendline("")
    child.expect("Question 2 of 3")
    child.expect("> ")
    child.sendline("A shallow network has one hidden layer; a deep one has several.")
    child.sendeof()  # Ctrl-D on a new line: the answer so far is graded, then the session ends
    child.expect("Score")
    child.expect(r"Input ended \(Ctrl-D\): 2 graded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    with _db() as conn:
        rows = conn.execute("SELECT question_id, status, answer FROM attempts ORDER BY id").fetchall()
    conn.close()
    assert [r[:2] for r in rows] == [(q[0].id, "graded"), (q[1].id, "graded")]
    assert rows[1][2].startswith("A shallow network")


def test_ctrl_c_mid_answer_ends_cleanly_with_earlier_answers_saved(grader):  # type: ignore[no-untyped-def]
    q = grader.bank.questions
    child = _spawn("--count", "3")
    child.expect("> ")
    child.sendline(_opening(q[0].reference_answer, 2))
    child.sendline("")
    child.expect("Enter: accept")
    child.sendline("")
    child.expect("Question 2 of 3")
    child.expect("> ")
    child.sendline("half an answer")
    child.expect("… ")
    child.sendintr()
    child.expect(r"Interrupted \(Ctrl-C\): 1 graded")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in (child.before or "")
    with _db() as conn:
        rows = conn.execute("SELECT question_id, status FROM attempts").fetchall()
    conn.close()
    assert rows == [(q[0].id, "graded")]  # the unfinished answer is not stored


# ---------------------------------------------------------------- in-process: start-up, hints, feedback


class _Stdin(io.StringIO):
    """Scripted input that notes when the loop first waits for the user."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.first_read = threading.Event()

    def readline(self, *args) -> str:  # type: ignore[no-untyped-def,override]
        self.first_read.set()
        return super().readline(*args)


def _session(grader, stdin: io.StringIO, tmp_path: Path, factory=None, **options):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    store = ProgressStore.open(tmp_path / "data")
    session = PracticeSession(bank=grader.bank, store=store, grader_factory=factory or (lambda: grader),
                              console=Console(file=out, width=200, highlight=False), stdin=stdin,
                              options=PracticeOptions(**options))
    return session, store, out


def test_the_first_question_is_shown_while_the_grader_is_still_loading(grader, tmp_path):  # type: ignore[no-untyped-def]
    stdin = _Stdin("Layers of neurons with weights and activations.\n\nquit\n")
    seen_at_prompt: list[str] = []

    def slow_factory():  # type: ignore[no-untyped-def]
        assert stdin.first_read.wait(60), "the loop never reached the answer prompt"
        seen_at_prompt.append(out.getvalue())
        return grader

    session, store, out = _session(grader, stdin, tmp_path, factory=slow_factory, count=2)
    stats = session.run()
    assert grader.bank.questions[0].question in seen_at_prompt[0]  # shown before the Grader existed
    assert stats.graded == 1 and stats.ended_by == "quit"
    store.close()


def test_quitting_before_the_grader_is_loaded_waits_for_the_loader(grader, tmp_path):  # type: ignore[no-untyped-def]
    # A loader thread still inside native code at interpreter exit aborts the process (SIGABRT, seen in
    # CI as "terminate called without an active exception"), so run() returns only once it has finished.
    release = threading.Event()
    finished = threading.Event()

    def slow_factory():  # type: ignore[no-untyped-def]
        release.wait(60)
        finished.set()
        return grader

    session, store, _ = _session(grader, _Stdin("quit\n"), tmp_path, factory=slow_factory)
    threading.Timer(0.5, release.set).start()
    stats = session.run()
    assert stats.ended_by == "quit" and stats.graded == 0
    assert finished.is_set() and session.loader.state != "loading"
    store.close()


def test_a_hint_after_a_partial_answer_names_a_key_point_it_misses(grader, tmp_path):  # type: ignore[no-untyped-def]
    question = grader.bank.questions[0]
    first_line = question.key_points[0].text
    partial = grader.grade(first_line, question_id=question.id)
    expected = next(k.index for k in partial.key_points if k.verdict != "covered")
    stdin = io.StringIO(f"{first_line}\nhint\nhint\n\n\nquit\n")
    session, store, out = _session(grader, stdin, tmp_path, count=1)
    session.run()
    text = out.getvalue()
    assert f"Hint: {gist(question.key_points[expected].text)}" in text
    assert text.count("Hint:") == 2 and "×0.56" in text
    row = store._conn.execute("SELECT hints, score, credited_score, rating FROM attempts").fetchone()
    assert row[0] == 2 and row[2] == pytest.approx(round(row[1] * HINT_FACTOR ** 2, 1)) and row[3] <= 3
    store.close()


def test_an_answer_typed_before_quit_is_graded_and_saved(grader, tmp_path):  # type: ignore[no-untyped-def]
    # Before: `printf 'answer\nquit\n' | dlgrader practice` said "You quit: 0 graded" and lost the answer.
    question = grader.bank.questions[0]
    answer = _opening(question.reference_answer, 2)
    session, store, out = _session(grader, io.StringIO(f"{answer}\nquit\n"), tmp_path, count=3)
    stats = session.run()
    assert stats.graded == 1 and stats.ended_by == "quit"
    text = out.getvalue()
    assert "Score" in text and "You quit: 1 graded" in text and "Question 2 of 3" not in text
    rows = store._conn.execute("SELECT question_id, status, answer FROM attempts").fetchall()
    assert rows == [(question.id, "graded", answer)]
    store.close()


def test_feedback_that_fails_or_is_unavailable_leaves_the_offline_result(grader, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    answer = _opening(grader.bank.questions[0].reference_answer, 2)
    session, store, out = _session(grader, io.StringIO(f"{answer}\n\n\n"), tmp_path, count=1, feedback=True)
    session.run()
    text = out.getvalue()
    assert text.index("Score") < text.index("LLM feedback unavailable")
    assert "offline grade above stands" in text

    # An endpoint that refuses connections: the Grader's one error policy turns it into "unavailable".
    for key, value in {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "judge", "LLM_MAX_RETRIES": "0",
                       "LLM_TIMEOUT": "2"}.items():
        monkeypatch.setenv(f"DLGRADER_{key}", value)
    from dlgrader.config import get_settings

    get_settings.cache_clear()
    refused = with_feedback(grader)
    session, store2, out = _session(refused, io.StringIO(f"{answer}\n\n\n"), tmp_path, count=1, feedback=True)
    stats = session.run()
    assert "LLM feedback unavailable:" in out.getvalue() and "offline grade above stands" in out.getvalue()
    assert stats.graded == 1 and "Score" in out.getvalue()
    assert len(list(store2.attempts())) == 2  # both sessions stored their graded answer
    store.close()
    store2.close()


def test_feedback_from_a_configured_endpoint_is_shown_after_the_offline_result_and_stored(grader):  # type: ignore[no-untyped-def]
    question = grader.bank.questions[0]
    answer = _opening(question.reference_answer, 2)
    with FakeLLMServer(default=Reply(judge("covered"))) as server:
        env = _env(DLGRADER_LLM_BASE_URL=server.url, DLGRADER_LLM_MODEL="fake-judge",
                   DLGRADER_LLM_TIMEOUT="10", DLGRADER_LLM_MAX_RETRIES="0")
        proc = subprocess.run([DLGRADER, "practice", "--count", "1", "--feedback"], input=f"{answer}\n\n\n",
                              capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert len(server.requests) == 1
    assert out.index("Score ") < out.index("LLM feedback") < out.index("Suggested rating")
    assert "Strengths" in out and "Suggestion:" in out
    with _db() as conn:
        score, feedback = conn.execute("SELECT score, feedback FROM attempts").fetchone()
    conn.close()
    stored = json.loads(feedback)
    assert stored["available"] is True and stored["model"] == "fake-judge"
    assert score == stored["engine_score"]  # the offline score is what is stored and scheduled


# ---------------------------------------------------------------- ordering


def test_plan_orders_due_then_new_and_weakest_by_score(grader):  # type: ignore[no-untyped-def]
    qs = grader.bank.questions[:6]
    now = datetime(2026, 3, 2, tzinfo=UTC)

    def card(i: int, due_minutes: int, score: float) -> CardInfo:
        return CardInfo(qs[i].id, now + timedelta(minutes=due_minutes), 1, 1, score)

    cards = {c.question_id: c for c in [card(0, 60, 90), card(1, -5, 20), card(2, -60, 70), card(3, 5, 10)]}
    due = plan(qs, cards, mode="due", now=now, rng=random.Random(0))
    assert [q.id for q in due] == [qs[i].id for i in (2, 1, 4, 5, 3, 0)]
    weakest = plan(qs, cards, mode="weakest", now=now, rng=random.Random(0))
    assert [q.id for q in weakest] == [qs[i].id for i in (3, 1, 2, 0, 4, 5)]
    shuffled = plan(qs, cards, mode="random", now=now, rng=random.Random(1))
    assert sorted(q.id for q in shuffled) == sorted(q.id for q in qs)
    assert shuffled == plan(qs, cards, mode="random", now=now, rng=random.Random(1))


def test_when_reads_like_a_person_would_say_it():
    now = datetime(2026, 3, 2, tzinfo=UTC)
    assert when(now + timedelta(minutes=1), now) == "in 1 minute"
    assert when(now + timedelta(minutes=10), now) == "in 10 minutes"
    assert when(now + timedelta(days=8), now) == "in 8 days"
    assert when(now - timedelta(days=1), now) == "now"
