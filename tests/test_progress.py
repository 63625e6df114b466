"""Progress store: attempts, FSRS scheduling, summaries, migrations and corrupt files; CLI on top."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fsrs import Rating

from dlgrader.cli import cli
from dlgrader.errors import ProgressStoreError
from dlgrader.models import GradeResult, KeyPointResult
from dlgrader.progress import HINT_FACTOR, SCHEMA_VERSION, ProgressStore, rating_for, streak

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _result(score: float, verdicts: list[str], question_id: str = "q") -> GradeResult:
    kps = [KeyPointResult(index=i, text=f"key point {i} of {question_id}", verdict=v,  # type: ignore[arg-type]
                          similarity=0.5, credit=1.0 if v == "covered" else 0.0)
           for i, v in enumerate(verdicts)]
    return GradeResult(status="graded", question_id=question_id, score=score, grade=score / 20,
                       key_points=kps)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with ProgressStore.open(tmp_path / "data") as s:
        yield s


# ---------------------------------------------------------------- rating


@pytest.mark.parametrize(("score", "verdicts", "hints", "expected"), [
    (100, ["covered"] * 4, 0, Rating.Easy),
    (100, ["covered"] * 4, 1, Rating.Good),          # a hinted answer is at most Good
    (95, ["covered", "covered", "covered", "missing"], 0, Rating.Good),   # any miss: not Easy
    (70, ["covered", "missing", "missing", "missing"], 0, Rating.Hard),   # most key points missed
    (50, ["covered", "partial"], 0, Rating.Hard),
    (95, ["covered", "contradicted"], 0, Rating.Again),  # a contradiction is a failure whatever the score
    (20, ["partial", "missing"], 0, Rating.Again),
])
def test_rating_comes_from_score_and_missed_key_points(score, verdicts, hints, expected):  # type: ignore[no-untyped-def]
    assert rating_for(score, verdicts, hints=hints) == expected


# ---------------------------------------------------------------- scheduling


def test_high_score_is_due_later_than_low_score_with_the_real_grader(store, grader):  # type: ignore[no-untyped-def]
    question = grader.bank.get("neural_network")
    good = grader.grade(question.reference_answer, question_id=question.id)
    poor = grader.grade("It is a kind of database for storing pictures.", question_id="perceptron")
    assert good.score > 80 > 20 > poor.score
    high = store.record(question_id=question.id, status="graded", answer="...", result=good, now=T0)
    low = store.record(question_id="perceptron", status="graded", answer="...", result=poor, now=T0)
    assert high.rating > low.rating
    assert high.due > low.due + timedelta(days=1)
    assert [c.question_id for c in store.due_queue(T0 + timedelta(hours=1))] == ["perceptron"]


def test_due_later_grows_with_the_rating(store):  # type: ignore[no-untyped-def]
    dues = [store.record(question_id=f"q{score}", status="graded", result=_result(score, verdicts),
                         now=T0).due
            for score, verdicts in [(10, ["missing"] * 3), (55, ["covered", "partial", "missing"]),
                                    (80, ["covered", "covered", "partial"]), (100, ["covered"] * 3)]]
    assert dues == sorted(dues) and len(set(dues)) == 4


def test_due_queue_is_ordered_most_overdue_first(store):  # type: ignore[no-untyped-def]
    # Same rating at different times: the earlier review falls due first.
    for minutes, qid in [(30, "c"), (0, "a"), (10, "b")]:
        store.record(question_id=qid, status="graded", result=_result(10, ["missing"]),
                     now=T0 + timedelta(minutes=minutes))
    store.record(question_id="easy", status="graded", result=_result(100, ["covered"]), now=T0)
    queue = store.due_queue(T0 + timedelta(hours=2))
    assert [c.question_id for c in queue] == ["a", "b", "c"]
    assert [c.due for c in queue] == sorted(c.due for c in queue)
    assert store.due_queue(T0) == []  # nothing is due at the moment of review
    assert [c.question_id for c in store.due_queue(T0 + timedelta(days=30))][-1] == "easy"


def test_repeated_good_answers_push_the_due_date_further(store):  # type: ignore[no-untyped-def]
    now, gaps = T0, []
    for _ in range(4):
        rec = store.record(question_id="q", status="graded", result=_result(85, ["covered", "partial"]),
                           now=now)
        gaps.append(rec.due - now)
        now = rec.due
    assert gaps == sorted(gaps) and gaps[-1] > timedelta(days=2)
    assert store.cards()["q"].reviews == 4


def test_hint_costs_credit_and_giving_up_counts_as_not_known(store):  # type: ignore[no-untyped-def]
    rec = store.record(question_id="q", status="graded", result=_result(100, ["covered"] * 3), hints=1,
                       now=T0)
    assert rec.credited_score == pytest.approx(100 * HINT_FACTOR)
    assert rec.rating == Rating.Good
    due_before = store.cards()["q"].due
    skipped = store.record(question_id="q", status="skipped", now=T0 + timedelta(minutes=1))
    assert skipped.rating == Rating.Again and skipped.credited_score == 0
    assert store.cards()["q"].due < due_before  # a skip is a failed review: the card comes back soon
    revealed = store.record(question_id="r", status="revealed", now=T0)
    assert revealed.rating == Rating.Again and revealed.credited_score == 0
    rows = list(store.attempts())
    assert [(r["status"], r["hints"], r["rating"]) for r in rows] == [
        ("graded", 1, "Good"), ("revealed", 0, "Again"), ("skipped", 0, "Again")]


# ---------------------------------------------------------------- confirming and overriding ratings


def test_overriding_the_rating_replays_the_review_from_the_card_before(store):  # type: ignore[no-untyped-def]
    store.record(question_id="q", status="graded", result=_result(95, ["covered"] * 3), now=T0)
    second = store.record(question_id="q", status="graded", result=_result(95, ["covered"] * 3),
                          now=T0 + timedelta(days=3))
    assert second.suggested == Rating.Easy
    easy_due = store.cards()["q"].due
    change = store.set_rating(second.attempt_id, Rating.Again)
    assert change.overridden and change.suggested == Rating.Easy and change.rating == Rating.Again
    card = store.cards()["q"]
    assert card.due == change.due < easy_due and card.reviews == 2  # replaced, not added
    # the same as if Again had been the rating in the first place
    with ProgressStore.open(store.path.parent / "other") as fresh:
        fresh.record(question_id="q", status="graded", result=_result(95, ["covered"] * 3), now=T0)
        fresh.record(question_id="q", status="graded", result=_result(10, ["missing"] * 3),
                     now=T0 + timedelta(days=3))
        assert fresh.cards()["q"].due == change.due
    back = store.set_rating(second.attempt_id, Rating.Easy)  # changed back: the original schedule
    assert not back.overridden and store.cards()["q"].due == easy_due
    rows = list(store.attempts())
    assert (rows[1]["suggested_rating"], rows[1]["rating"]) == ("Easy", "Easy")


def test_only_the_latest_review_of_ones_own_card_can_be_rerated(store):  # type: ignore[no-untyped-def]
    from dlgrader.errors import AttemptNotFound, RatingLocked

    first = store.record(question_id="q", status="graded", result=_result(80, ["covered"]), now=T0)
    store.record(question_id="q", status="graded", result=_result(80, ["covered"]), now=T0 + timedelta(days=1))
    with pytest.raises(RatingLocked, match="reviewed again since"):
        store.set_rating(first.attempt_id, Rating.Hard)
    mine = store.record(question_id="r", status="graded", result=_result(80, ["covered"]), now=T0,
                        learner="alice")
    with pytest.raises(AttemptNotFound):
        store.set_rating(mine.attempt_id, Rating.Hard)  # the default learner's request
    with pytest.raises(AttemptNotFound):
        store.set_rating(9999, Rating.Hard)
    assert store.set_rating(mine.attempt_id, Rating.Hard, learner="alice").rating == Rating.Hard


def test_learners_have_separate_cards_and_summaries(store, grader):  # type: ignore[no-untyped-def]
    store.record(question_id="dropout", status="graded", result=_result(90, ["covered"]), learner="alice")
    store.record(question_id="gru", status="skipped", learner="bob")
    assert set(store.cards("alice")) == {"dropout"} and set(store.cards("bob")) == {"gru"}
    assert store.cards() == {}
    alice = store.summary(grader.bank, learner="alice")
    assert (alice.learner, alice.attempts, alice.graded, alice.questions_seen) == ("alice", 1, 1, 1)
    assert [r["learner"] for r in store.attempts()] == ["alice", "bob"]
    assert [r["question_id"] for r in store.attempts("bob")] == ["gru"]


# ---------------------------------------------------------------- choosing the next card


def test_next_card_brings_a_failed_card_back_after_three_other_questions(store):  # type: ignore[no-untyped-def]
    ids = [f"q{i}" for i in range(8)]
    now = T0
    asked = []
    for _ in range(7):
        pick = store.next_card(ids, now=now, session_id="s1")
        assert pick is not None
        asked.append((pick.question_id, pick.reason))
        failed = pick.question_id == "q0" and pick.reason == "new"
        result = _result(10 if failed else 95, ["missing" if failed else "covered"] * 2)
        store.record(question_id=pick.question_id, status="graded", result=result, session_id="s1", now=now)
        now += timedelta(minutes=2)  # past FSRS's 1-minute learning step: the session rule still spaces it
    assert asked == [("q0", "new"), ("q1", "new"), ("q2", "new"), ("q3", "new"), ("q0", "relearn"),
                     ("q4", "new"), ("q5", "new")]
    # another session does not relearn it early; once due, it is due for everyone
    assert store.next_card(ids, now=now, session_id="s2").reason == "new"  # type: ignore[union-attr]


def test_next_card_orders_due_then_new_then_learning_ahead(store):  # type: ignore[no-untyped-def]
    store.record(question_id="a", status="graded", result=_result(95, ["covered"]), now=T0)
    store.record(question_id="b", status="revealed", now=T0)  # again: due in minutes
    pick = store.next_card(["a", "b", "c"], now=T0 + timedelta(minutes=30))
    assert (pick.question_id, pick.reason) == ("b", "due")  # type: ignore[union-attr]
    pick = store.next_card(["a", "b", "c"], now=T0 + timedelta(seconds=10))
    assert (pick.question_id, pick.reason) == ("c", "new")  # type: ignore[union-attr]
    pick = store.next_card(["a", "b"], now=T0 + timedelta(seconds=10))
    assert (pick.question_id, pick.reason) == ("b", "ahead")  # type: ignore[union-attr]
    assert store.next_card(["a"], now=T0 + timedelta(seconds=10)) is None
    counts = store.queue_counts(["a", "b", "c"], now=T0 + timedelta(minutes=30))
    assert (counts.due_now, counts.new, counts.learning) == (1, 1, 1)


def test_history_has_one_entry_per_day_ending_today(store):  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    store.record(question_id="a", status="graded", result=_result(60, ["covered"]), now=now - timedelta(days=2))
    store.record(question_id="b", status="graded", result=_result(80, ["covered"]), now=now - timedelta(days=2))
    store.record(question_id="c", status="skipped", now=now)
    days = store.history(days=5, now=now)
    assert [d.date for d in days][-1] == now.astimezone().date().isoformat() and len(days) == 5
    two_ago = days[-3]
    assert (two_ago.reviews, two_ago.graded, two_ago.mean_score) == (2, 2, 70.0)
    assert (days[-1].reviews, days[-1].graded, days[-1].again, days[-1].mean_score) == (1, 0, 1, None)


# ---------------------------------------------------------------- summary


def test_summary_reports_mastery_due_streak_and_weakest_key_points(store, grader):  # type: ignore[no-untyped-def]
    bank = grader.bank
    cnn = [q for q in bank.questions if q.topic == "cnn"]
    now = datetime.now(UTC)
    store.record(question_id=cnn[0].id, status="graded", now=now - timedelta(days=2),
                 result=_result(100, ["covered"] * 2, cnn[0].id))
    store.record(question_id=cnn[1].id, status="graded", now=now - timedelta(days=1),
                 result=_result(30, ["covered", "missing"], cnn[1].id))
    store.record(question_id=cnn[1].id, status="graded", now=now - timedelta(minutes=5),
                 result=_result(35, ["missing", "missing"], cnn[1].id))
    summary = store.summary(bank, now)
    topic = next(t for t in summary.topics if t.topic == "cnn")
    assert (topic.questions, topic.seen, topic.mastered) == (len(cnn), 2, 1)
    assert topic.average_score == 67.5  # latest scores: 100 and 35
    assert topic.mastery == round(135 / len(cnn), 1)
    assert summary.due_now == 1 and topic.due == 1
    assert summary.streak_days == 3 and summary.practice_days == 3
    assert summary.new == len(bank) - 2
    weakest = summary.weakest_key_points[0]
    assert (weakest.question_id, weakest.index, weakest.missed, weakest.attempts) == (cnn[1].id, 1, 2, 2)


def test_streak_counts_consecutive_days_up_to_today_or_yesterday():
    today = date(2026, 3, 10)
    days = {date(2026, 3, d) for d in (4, 7, 8, 9)}
    assert streak(days, today) == 3              # today not yet practised: the streak still holds
    assert streak(days | {today}, today) == 4
    assert streak(days, date(2026, 3, 11)) == 0


# ---------------------------------------------------------------- migrations and damaged files

_V1 = """
CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, question_id TEXT NOT NULL, answer TEXT NOT NULL,
    score REAL, key_points TEXT NOT NULL DEFAULT '[]', created_at TEXT NOT NULL);
CREATE INDEX attempts_question ON attempts(question_id, created_at);
PRAGMA user_version = 1;
"""


def _v1_database(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1)
        kps = [{"index": 0, "text": "first", "verdict": "covered", "similarity": 0.9},
               {"index": 1, "text": "second", "verdict": "missing", "similarity": 0.2}]
        conn.executemany("INSERT INTO attempts (question_id, answer, score, key_points, created_at) "
                         "VALUES (?,?,?,?,?)",
                         [("gru", "old answer", 45.0, json.dumps(kps), "2026-01-05T10:00:00+00:00"),
                          ("gru", "better answer", 92.0, json.dumps([{**kps[1], "verdict": "covered"}]),
                           "2026-01-06T10:00:00+00:00")])
    conn.close()


def test_an_older_database_is_backed_up_and_migrated_without_losing_rows(tmp_path: Path):
    path = tmp_path / "data" / "progress.db"
    _v1_database(path)
    with ProgressStore.open(path.parent) as store:
        assert any(f"schema v1 to v{SCHEMA_VERSION}" in n for n in store.notices)
        rows = list(store.attempts())
        assert [(r["answer"], r["score"], r["status"]) for r in rows] == [
            ("old answer", 45.0, "graded"), ("better answer", 92.0, "graded")]
        assert rows[0]["rating"] == "Hard" and rows[1]["rating"] == "Easy"
        card = store.cards()["gru"]
        assert card.reviews == 2 and card.last_score == 92.0
        assert card.due > datetime(2026, 1, 7, tzinfo=UTC)  # replayed through FSRS from the old history
        assert store.weakest_key_points()[0].text == "second"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    backups = list(path.parent.glob("progress.db.bak-v1-*"))
    assert len(backups) == 1
    with sqlite3.connect(backups[0]) as conn:
        assert conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    with ProgressStore.open(path.parent) as again:  # already current: no second migration, no notice
        assert again.notices == [] and len(list(again.attempts())) == 2


def test_a_corrupt_database_is_kept_aside_and_a_new_one_started(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    garbage = b"this is not sqlite at all\x00" * 200
    (data / "progress.db").write_bytes(garbage)
    with ProgressStore.open(data) as store:
        assert len(store.notices) == 1 and "kept aside" in store.notices[0]
        store.record(question_id="q", status="graded", result=_result(80, ["covered"]))
    aside = list(data.glob("progress.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert aside[0].name in store.notices[0]


def test_the_cli_reports_a_corrupt_database_clearly(tmp_path: Path):
    data = Path(tmp_path / "data")
    data.mkdir()
    (data / "progress.db").write_bytes(b"\x13garbage" * 500)
    result = CliRunner().invoke(cli, ["progress", "--json"])
    assert result.exit_code == 0, result.output
    assert "could not be read" in result.stderr and "progress.db.corrupt-" in result.stderr
    assert json.loads(result.stdout)["attempts"] == 0


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "data" / "progress.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ProgressStoreError, match="newer dlgrader"):
        ProgressStore.open(path.parent)
    result = CliRunner().invoke(cli, ["progress"])
    assert result.exit_code != 0
    assert path.read_bytes() == before and list(path.parent.iterdir()) == [path]


# Each process says it is ready (its imports done), waits for the gate (its stdin, one pipe shared by all,
# closed by the parent), opens the store, records one attempt; a failure exits non-zero, the error on stderr.
_OPENER = """
import sys
from pathlib import Path
from dlgrader.progress import ProgressStore
print("ready", flush=True)
sys.stdin.read()
with ProgressStore.open(Path(sys.argv[1])) as store:
    store.record(question_id=sys.argv[2], status="skipped")
"""


def test_concurrent_first_runs_on_a_fresh_data_directory_all_succeed(tmp_path: Path):
    # Before: each process read schema v0, then migrated in turn, and the later ones failed with "cannot
    # migrate ... table attempts already exists" / "duplicate column name: status". Now the version is read
    # again under the write lock.
    import os
    import subprocess
    import sys

    for trial in range(6):
        data = tmp_path / f"data{trial}"
        gate_read, gate_write = os.pipe()
        procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(data), f"q{i}"], stdin=gate_read,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
        os.close(gate_read)
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        os.close(gate_write)  # every process sees end of input at once: they open the store together
        outcomes = [proc.communicate(timeout=120) for proc in procs]
        for proc, (_, err) in zip(procs, outcomes, strict=True):
            assert proc.returncode == 0, f"trial {trial}: {err}"
        with ProgressStore.open(data) as store:
            assert store.notices == []
            assert sorted(r["question_id"] for r in store.attempts()) == ["q0", "q1", "q2", "q3"]
        with sqlite3.connect(data / "progress.db") as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.close()
        assert sorted(p.name for p in data.iterdir()) == ["progress.db"]  # no backup, nothing set aside


def test_a_locked_database_is_reported_not_set_aside_as_corrupt(tmp_path: Path):
    data = tmp_path / "data"
    with ProgressStore.open(data):
        pass
    holder = sqlite3.connect(data / "progress.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write, for longer than we wait
    try:
        import dlgrader.progress as progress

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(progress, "BUSY_TIMEOUT_S", 0.05, raising=False)
            with pytest.raises(ProgressStoreError, match="locked"):
                ProgressStore.open(data)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sorted(p.name for p in data.iterdir()) == ["progress.db"]


# ---------------------------------------------------------------- CLI


def test_progress_json_and_exports_show_stored_attempts(tmp_path: Path):
    with ProgressStore.open(tmp_path / "data") as s:
        s.record(question_id="gru", status="graded", answer="two gates",
                 result=_result(55, ["covered", "missing"]))
        s.record(question_id="perceptron", status="skipped")
    runner = CliRunner()
    summary = json.loads(runner.invoke(cli, ["progress", "--json"]).stdout)
    assert (summary["attempts"], summary["graded"], summary["questions_seen"]) == (2, 1, 2)
    assert next(t for t in summary["topics"] if t["topic"] == "sequence_models")["seen"] == 1
    text = runner.invoke(cli, ["progress"])
    assert text.exit_code == 0 and "Mastery per topic" in text.stdout and "sequence_models" in text.stdout
    assert "\x1b[" not in text.stdout
    lines = runner.invoke(cli, ["progress", "export"]).stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [(r["question_id"], r["topic"], r["status"]) for r in rows] == [
        ("gru", "sequence_models", "graded"), ("perceptron", "neural_network_basics", "skipped")]
    assert rows[0]["key_points"][1]["verdict"] == "missing"
    assert (rows[0]["learner"], rows[0]["suggested_rating"], rows[1]["rating"]) == ("default", "Hard", "Again")
    out = tmp_path / "attempts.csv"
    result = runner.invoke(cli, ["progress", "export", "--format", "csv", "-o", str(out)])
    assert result.exit_code == 0 and "2 attempts written" in result.stderr
    header, first, _ = out.read_text().splitlines()
    assert header.startswith("id,created_at")
    assert ",gru,sequence_models,graded,55.0,55.0,0,Hard,1,0,1," in first


def test_questions_list_show_and_random():
    runner = CliRunner()
    listed = [json.loads(line) for line in runner.invoke(cli, ["questions", "list", "--topic", "cnn",
                                                               "--json"]).stdout.splitlines()]
    assert listed and {q["topic"] for q in listed} == {"cnn"}
    shown = runner.invoke(cli, ["questions", "show", "gru"])
    assert shown.exit_code == 0
    assert "What is a GRU?" in shown.stdout
    assert "Reference answer" in shown.stdout and "Key points" in shown.stdout
    typo = runner.invoke(cli, ["questions", "show", "gruu"])
    assert typo.exit_code == 1 and "Did you mean: gru" in typo.output
    first = runner.invoke(cli, ["questions", "random", "--seed", "3", "--difficulty", "advanced", "--json"])
    second = runner.invoke(cli, ["questions", "random", "--seed", "3", "--difficulty", "advanced", "--json"])
    assert first.stdout == second.stdout and json.loads(first.stdout)["difficulty"] == "advanced"
    empty = runner.invoke(cli, ["questions", "list", "--topic", "astrology"])
    assert empty.exit_code == 2 and "astrology" in empty.output and "activations" in empty.output


def test_piped_questions_list_prints_whole_tab_separated_rows():
    # Before: cut to 80 columns with "..." in place of the question text, so `| grep` found nothing.
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank

    bank = load_bank(get_settings().corpus)
    listed = CliRunner().invoke(cli, ["questions", "list"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows == [[q.id, q.topic, q.difficulty, " ".join(q.question.split())] for q in bank.questions]
    assert max(len(q.question) for q in bank.questions) > 80  # long enough to have been cut before
    assert f"{len(bank.questions)} question(s)" in listed.stderr

