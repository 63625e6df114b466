"""Practice progress: every attempt and one FSRS card per question, in SQLite in the user's data dir.

Schema versions (``PRAGMA user_version``); an older database is backed up, then migrated in one transaction:

    1  attempts(question_id, answer, score, key_points JSON, created_at): the first cut, history only
    2  + attempts.status / credited_score / hints / rating / session_id / feedback,
       key_point_results (one row per key-point verdict), cards (FSRS state and due date per question);
       the cards of a v1 database are rebuilt by replaying its attempts through the scheduler
    3  + attempts.learner / suggested_rating / card_before; cards keyed by (learner, question_id). Progress
       belongs to a learner: a local profile name (``default`` unless one is chosen) or an API key's
       fingerprint on a server with keys. Earlier rows belong to ``default``.

A file that SQLite cannot read is renamed ``progress.db.corrupt-<timestamp>`` and a new database is started;
``ProgressStore.notices`` says so, for the CLI to show. A database from a newer dlgrader is refused untouched.

Scheduling: the rating suggested for an attempt comes from its score (after the hint penalty) and its missed
key points (``rating_for``) and is applied at once, so an attempt never left unrated; the learner may then
confirm or override it (``set_rating``), which replays the review from the card as it was before
(``card_before``). FSRS turns ratings into due dates. Fuzzing is off so that schedules are reproducible.
A question given up on (skipped or revealed) counts as not known: rated Again.

Choosing the next card (``next_card``): a card failed in this session comes back once three other questions
have been asked (relearning), then cards due now (most overdue first), then new questions in bank order, then
cards in (re)learning due within the next 20 minutes (learning ahead, as Anki does when nothing else is left).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from dlgrader.errors import AttemptNotFound, ProgressStoreError, RatingLocked

if TYPE_CHECKING:
    from fsrs import Card, Rating, Scheduler

    from dlgrader.corpus.loader import Bank
    from dlgrader.models import GradeResult

DB_NAME = "progress.db"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 30.0
DEFAULT_LEARNER = "default"
LEARNER_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
RELEARN_AFTER = 3
"""A card failed in a session is asked again once this many other questions have been asked since."""
LEARN_AHEAD = timedelta(minutes=20)
RATING_NAMES = ("again", "hard", "good", "easy")
HINT_FACTOR = 0.75
"""Each hint multiplies the stored (credited) score by this factor, and a hinted answer rates at most Good."""
AttemptStatus = Literal["graded", "skipped", "revealed"]
PickReason = Literal["relearn", "due", "new", "ahead"]
MISSED = ("missing", "contradicted")


# ---------------------------------------------------------------- rating


def credited_score(score: float, hints: int) -> float:
    """The score an attempt is credited with after ``hints`` hints."""
    return round(score * HINT_FACTOR ** max(0, hints), 1)


def rating_for(score: float, verdicts: Sequence[str], *, hints: int = 0) -> Rating:
    """FSRS rating of an answer from its (credited) score and its key-point verdicts.

    Again: below 40, or a contradicted key point. Hard: below 65, or more than half the key points missed.
    Good: below 90, or any key point missed. Easy: otherwise. A hinted answer is at most Good.
    """
    from fsrs import Rating

    missed = sum(v in MISSED for v in verdicts) / max(1, len(verdicts))
    if score < 40 or "contradicted" in verdicts:
        return Rating.Again
    if score < 65 or missed > 0.5:
        return Rating.Hard
    if score < 90 or missed > 0 or hints > 0:
        return Rating.Good
    return Rating.Easy


def rating_named(name: str) -> Rating:
    """``Rating`` from its name ("again", "Hard", ...); ValueError for anything else."""
    from fsrs import Rating

    try:
        return Rating[name.strip().capitalize()]
    except KeyError:
        raise ValueError(f"unknown rating {name!r}: use one of {', '.join(RATING_NAMES)}") from None


def default_scheduler() -> Scheduler:
    from fsrs import Scheduler

    return Scheduler(enable_fuzzing=False)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- schema and migrations

_V1 = """
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id TEXT NOT NULL,
    answer TEXT NOT NULL,
    score REAL,
    key_points TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL
);
CREATE INDEX attempts_question ON attempts(question_id, created_at);
"""

_V2 = """
ALTER TABLE attempts ADD COLUMN status TEXT NOT NULL DEFAULT 'graded';
ALTER TABLE attempts ADD COLUMN credited_score REAL;
ALTER TABLE attempts ADD COLUMN hints INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN rating INTEGER;
ALTER TABLE attempts ADD COLUMN session_id TEXT;
ALTER TABLE attempts ADD COLUMN feedback TEXT;
CREATE TABLE key_point_results (
    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    kp_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    verdict TEXT NOT NULL,
    similarity REAL,
    evidence TEXT,
    PRIMARY KEY (attempt_id, kp_index)
);
CREATE TABLE cards (
    question_id TEXT PRIMARY KEY,
    card TEXT NOT NULL,
    due TEXT NOT NULL,
    state INTEGER NOT NULL,
    reviews INTEGER NOT NULL DEFAULT 0,
    last_review TEXT
);
CREATE INDEX cards_due ON cards(due);
"""


_V3 = """
ALTER TABLE attempts ADD COLUMN learner TEXT NOT NULL DEFAULT 'default';
ALTER TABLE attempts ADD COLUMN suggested_rating INTEGER;
ALTER TABLE attempts ADD COLUMN card_before TEXT;
UPDATE attempts SET suggested_rating = rating;
CREATE TABLE cards_v3 (
    learner TEXT NOT NULL,
    question_id TEXT NOT NULL,
    card TEXT NOT NULL,
    due TEXT NOT NULL,
    state INTEGER NOT NULL,
    reviews INTEGER NOT NULL DEFAULT 0,
    last_review TEXT,
    PRIMARY KEY (learner, question_id)
);
INSERT INTO cards_v3 SELECT 'default', question_id, card, due, state, reviews, last_review FROM cards;
DROP TABLE cards;
ALTER TABLE cards_v3 RENAME TO cards;
CREATE INDEX cards_due ON cards(learner, due);
CREATE INDEX attempts_learner ON attempts(learner, question_id, created_at)
"""


def _script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT first; statements one by one keep the migration in our transaction.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _migrate_to_1(conn: sqlite3.Connection, scheduler: Scheduler) -> None:
    _script(conn, _V1)


def _migrate_to_2(conn: sqlite3.Connection, scheduler: Scheduler) -> None:
    _script(conn, _V2)
    rows = conn.execute("SELECT id, question_id, score, key_points, created_at FROM attempts "
                        "ORDER BY created_at, id").fetchall()
    for attempt_id, question_id, score, kp_json, created_at in rows:
        kps = json.loads(kp_json or "[]")
        verdicts = [kp["verdict"] for kp in kps]
        rating = rating_for(score or 0.0, verdicts)
        conn.execute("UPDATE attempts SET credited_score = ?, rating = ? WHERE id = ?",
                     (score, int(rating), attempt_id))
        conn.executemany(
            "INSERT INTO key_point_results (attempt_id, kp_index, text, verdict, similarity) "
            "VALUES (?,?,?,?,?)",
            [(attempt_id, kp["index"], kp["text"], kp["verdict"], kp.get("similarity")) for kp in kps])
        # v2's cards table has one row per question (no learner yet)
        before = conn.execute("SELECT card FROM cards WHERE question_id = ?", (question_id,)).fetchone()
        moment = datetime.fromisoformat(created_at)
        card = _reviewed(scheduler, before[0] if before else "", question_id, rating, moment)
        conn.execute(
            "INSERT INTO cards (question_id, card, due, state, reviews, last_review) VALUES (?,?,?,?,1,?) "
            "ON CONFLICT(question_id) DO UPDATE SET card = excluded.card, due = excluded.due, "
            "state = excluded.state, reviews = reviews + 1, last_review = excluded.last_review",
            (question_id, card.to_json(), _iso(card.due), int(card.state), created_at))


def _migrate_to_3(conn: sqlite3.Connection, scheduler: Scheduler) -> None:
    _script(conn, _V3)


MIGRATIONS = {1: _migrate_to_1, 2: _migrate_to_2, 3: _migrate_to_3}


def _reviewed(scheduler: Scheduler, card_json: str, question_id: str, rating: Rating,
              moment: datetime) -> Card:
    """The card after one review; ``card_json`` is the card before ("" for a question never reviewed)."""
    from fsrs import Card

    card = Card.from_json(card_json) if card_json else Card(card_id=zlib.crc32(question_id.encode()))
    card, _ = scheduler.review_card(card, rating, review_datetime=moment.astimezone(UTC))
    return card


def _card_json(conn: sqlite3.Connection, learner: str, question_id: str) -> str:
    row = conn.execute("SELECT card FROM cards WHERE learner = ? AND question_id = ?",
                       (learner, question_id)).fetchone()
    return row[0] if row else ""


def _save_card(conn: sqlite3.Connection, learner: str, question_id: str, card: Card, moment: datetime, *,
               new_review: bool) -> None:
    """Store a card after a review (``new_review``) or after a review's rating was changed (same count)."""
    conn.execute(
        "INSERT INTO cards (learner, question_id, card, due, state, reviews, last_review) "
        "VALUES (?,?,?,?,?,1,?) ON CONFLICT(learner, question_id) DO UPDATE SET card = excluded.card, "
        "due = excluded.due, state = excluded.state, reviews = reviews + ?, last_review = excluded.last_review",
        (learner, question_id, card.to_json(), _iso(card.due), int(card.state), _iso(moment), int(new_review)))


# ---------------------------------------------------------------- read models


@dataclass(frozen=True)
class CardInfo:
    """Where one question stands: next due date, FSRS state, reviews and the last credited score."""

    question_id: str
    due: datetime
    state: int
    reviews: int
    last_score: float | None

    @property
    def learning(self) -> bool:
        """In (re)learning steps: short intervals, minutes apart (FSRS states 1 and 3)."""
        return self.state in (1, 3)


@dataclass(frozen=True)
class Recorded:
    """What storing an attempt produced: its row id, the suggested and applied rating, and the due date."""

    attempt_id: int
    at: datetime
    rating: Rating | None
    due: datetime | None
    credited_score: float | None
    suggested: Rating | None = None


@dataclass(frozen=True)
class RatingChange:
    """An attempt's rating after the learner confirmed or overrode it, and the due date it gives."""

    attempt_id: int
    question_id: str
    at: datetime
    suggested: Rating | None
    rating: Rating
    due: datetime

    @property
    def overridden(self) -> bool:
        return self.suggested is not None and self.rating != self.suggested


@dataclass(frozen=True)
class QueueCounts:
    """How many of the chosen questions are due now, never seen, and in (re)learning steps."""

    due_now: int
    new: int
    learning: int


@dataclass(frozen=True)
class Pick:
    """The next question to ask and why; ``card`` is None for a new question."""

    question_id: str
    reason: PickReason
    card: CardInfo | None


class TopicProgress(BaseModel):
    """mastery: mean latest credited score over all the topic's questions (unseen ones count 0);
    average_score: the same over the questions seen; mastered: latest credited score >= MASTERED_SCORE."""

    topic: str
    questions: int
    seen: int
    mastered: int
    mastery: float
    average_score: float | None
    due: int


class WeakKeyPoint(BaseModel):
    """A key point often missed: over ``attempts`` graded answers, ``missed`` missing or contradicted."""

    question_id: str
    index: int
    text: str
    attempts: int
    missed: int
    partial: int


class DayHistory(BaseModel):
    """One local day of practice: reviews (graded or given up), graded answers, Again ratings, mean score."""

    date: str
    reviews: int
    graded: int
    again: int
    mean_score: float | None


class DueCard(BaseModel):
    """A question due now, for the progress view."""

    question_id: str
    question: str
    topic: str
    due: str
    last_score: float | None


class ProgressSummary(BaseModel):
    """What ``dlgrader progress`` shows (and prints with ``--json``), and ``GET /v1/progress`` returns."""

    learner: str = DEFAULT_LEARNER
    database: str | None = Field(None, description="The database file (the CLI shows it; the API leaves it out).")
    attempts: int
    graded: int
    questions_seen: int
    questions_total: int
    due_now: int
    due_today: int
    new: int
    streak_days: int
    practice_days: int
    last_practice: str | None
    topics: list[TopicProgress]
    weakest_key_points: list[WeakKeyPoint]
    history: list[DayHistory] = []
    due_cards: list[DueCard] = []


MASTERED_SCORE = 80.0
"""A question counts as mastered when its latest credited score is at least this."""


# ---------------------------------------------------------------- the store


class ProgressStore:
    """Attempts and scheduling cards in one SQLite file. Open with ``ProgressStore.open(data_dir)``."""

    def __init__(self, conn: sqlite3.Connection, path: Path, scheduler: Scheduler,
                 notices: list[str]) -> None:
        self._conn = conn
        self.path = path
        self.scheduler = scheduler
        self.notices = notices

    @classmethod
    def open(cls, data_dir: Path, *, scheduler: Scheduler | None = None) -> ProgressStore:
        """Open (creating, migrating or setting aside a corrupt file as needed) ``data_dir/progress.db``."""
        scheduler = scheduler or default_scheduler()
        path = Path(data_dir) / DB_NAME
        notices: list[str] = []
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ProgressStoreError(f"cannot create the data directory {path.parent}: {exc}") from exc
        conn = _connect(path)
        try:
            version = _check_readable(conn)
        except sqlite3.OperationalError as exc:  # locked or busy past the timeout: not corrupt, keep it
            conn.close()
            raise ProgressStoreError(f"cannot read the progress database {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            aside = _set_aside(path)
            notices.append(f"The progress database {path} could not be read ({exc}); it was kept aside as "
                           f"{aside.name} and a new one was started.")
            conn = _connect(path)
            version = 0
        store = cls(conn, path, scheduler, notices)
        try:
            store._check_version(version)
            if version < SCHEMA_VERSION:
                store._migrate()
        except ProgressStoreError:
            conn.close()
            raise
        return store

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ProgressStoreError(f"{self.path} was written by a newer dlgrader (schema v{version}, this one "
                                     f"reads up to v{SCHEMA_VERSION}); upgrade dlgrader to use it")

    def _migrate(self) -> None:
        """Bring the schema up to date in one transaction, safe against other processes doing the same.

        The version read on opening may be stale by now: another process opening the same new database at
        the same moment may have migrated it already. So the write lock is taken first (BEGIN IMMEDIATE,
        waiting up to the busy timeout), the version is read again under it, and only what is still
        missing is applied; the loser of the race then finds the schema current and does nothing."""
        try:
            with self._tx():
                version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
                self._check_version(version)
                if version == SCHEMA_VERSION:
                    return
                if version > 0:
                    self._back_up(version)
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[target](self._conn, self.scheduler)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            raise ProgressStoreError(f"cannot migrate {self.path} to schema v{SCHEMA_VERSION}: {exc}") from exc

    def _back_up(self, version: int) -> None:
        """Copy the database as it is, while our write lock keeps everyone else from changing it.

        The copy is read through a second connection: a backup from the connection that holds the write
        transaction never completes (SQLite keeps answering busy), while our lock still lets readers in."""
        backup = self.path.with_name(f"{DB_NAME}.bak-v{version}-{_stamp()}")
        source, copy = _connect(self.path), sqlite3.connect(backup)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        self.notices.append(f"Migrated the progress database from schema v{version} to v{SCHEMA_VERSION} "
                            f"(a copy of the old one is in {backup.name}).")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ProgressStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def record(self, *, question_id: str, status: AttemptStatus, answer: str = "",
               result: GradeResult | None = None, hints: int = 0, session_id: str | None = None,
               now: datetime | None = None, learner: str = DEFAULT_LEARNER) -> Recorded:
        """Store one attempt and review the question's card with the suggested rating.

        ``graded`` needs the ``result`` and is rated from it; ``revealed`` (reference shown before answering)
        and ``skipped`` (given up) count as not known and rate Again.
        """
        from fsrs import Rating

        moment = now or _now()
        score = credited = None
        kps: list[dict[str, object]] = []
        if status == "graded":
            if result is None or result.score is None:
                raise ValueError("a graded attempt needs a graded result")
            score = result.score
            credited = credited_score(score, hints)
            kps = [{"index": k.index, "text": k.text, "verdict": k.verdict,
                    "similarity": round(k.similarity, 4), "evidence": k.evidence.text if k.evidence else None}
                   for k in result.key_points]
            rating = rating_for(credited, [str(k["verdict"]) for k in kps], hints=hints)
        else:
            credited, rating = 0.0, Rating.Again
        with self._tx() as conn:
            before = _card_json(conn, learner, question_id)
            cur = conn.execute(
                "INSERT INTO attempts (question_id, answer, score, key_points, created_at, status, "
                "credited_score, hints, rating, suggested_rating, session_id, learner, card_before) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (question_id, answer, score, json.dumps(kps), _iso(moment), status, credited, hints,
                 int(rating), int(rating), session_id, learner, before))
            attempt_id = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO key_point_results (attempt_id, kp_index, text, verdict, similarity, evidence) "
                "VALUES (?,?,?,?,?,?)",
                [(attempt_id, k["index"], k["text"], k["verdict"], k["similarity"], k["evidence"])
                 for k in kps])
            card = _reviewed(self.scheduler, before, question_id, rating, moment)
            _save_card(conn, learner, question_id, card, moment, new_review=True)
        return Recorded(attempt_id, moment, rating, card.due, credited, suggested=rating)

    def set_rating(self, attempt_id: int, rating: Rating, *, learner: str = DEFAULT_LEARNER) -> RatingChange:
        """Confirm or override the rating of an attempt: its review is replayed from the card as it was.

        Only the latest review of a card can change (a later one was computed from it): otherwise, and for
        an attempt recorded before ratings could change, RatingLocked. Another learner's attempt is not
        found, like a missing one.
        """
        with self._tx() as conn:
            row = conn.execute(
                "SELECT question_id, created_at, suggested_rating, card_before, rating FROM attempts "
                "WHERE id = ? AND learner = ?", (attempt_id, learner)).fetchone()
            if row is None:
                raise AttemptNotFound(f"no attempt {attempt_id} for learner {learner!r}")
            question_id, created_at, suggested, before, current = row
            latest = conn.execute(
                "SELECT id FROM attempts WHERE learner = ? AND question_id = ? AND rating IS NOT NULL "
                "ORDER BY created_at DESC, id DESC LIMIT 1", (learner, question_id)).fetchone()
            if current is None or latest is None or latest[0] != attempt_id:
                raise RatingLocked(f"attempt {attempt_id} can no longer be re-rated: the question "
                                   f"{question_id!r} has been reviewed again since")
            if before is None:
                raise RatingLocked(f"attempt {attempt_id} was recorded before ratings could be changed")
            moment = datetime.fromisoformat(created_at)
            card = _reviewed(self.scheduler, before, question_id, rating, moment)
            _save_card(conn, learner, question_id, card, moment, new_review=False)
            conn.execute("UPDATE attempts SET rating = ? WHERE id = ?", (int(rating), attempt_id))
        from fsrs import Rating

        return RatingChange(attempt_id, question_id, moment, Rating(suggested) if suggested else None,
                            rating, card.due)

    def set_feedback(self, attempt_id: int, feedback: dict[str, object]) -> None:
        """Attach LLM feedback to a stored attempt (it arrives after the offline result)."""
        with self._tx() as conn:
            conn.execute("UPDATE attempts SET feedback = ? WHERE id = ?",
                         (json.dumps(feedback, default=str), attempt_id))

    # ------------------------------------------------------------ reading

    def cards(self, learner: str = DEFAULT_LEARNER) -> dict[str, CardInfo]:
        """Every question with a schedule, by id."""
        rows = self._conn.execute(
            "SELECT c.question_id, c.due, c.state, c.reviews, (SELECT credited_score FROM attempts a "
            " WHERE a.learner = c.learner AND a.question_id = c.question_id AND a.rating IS NOT NULL "
            " ORDER BY a.created_at DESC, a.id DESC LIMIT 1) FROM cards c WHERE c.learner = ?",
            (learner,)).fetchall()
        return {r[0]: CardInfo(r[0], datetime.fromisoformat(r[1]), r[2], r[3], r[4]) for r in rows}

    def due_queue(self, now: datetime | None = None, *, within: timedelta = timedelta(0),
                  learner: str = DEFAULT_LEARNER) -> list[CardInfo]:
        """Questions due by ``now + within``, the most overdue first."""
        cards = self.cards(learner)
        limit = (now or _now()) + within
        return sorted((c for c in cards.values() if c.due <= limit), key=lambda c: (c.due, c.question_id))

    def next_card(self, question_ids: Sequence[str], *, now: datetime | None = None,
                  session_id: str | None = None, learner: str = DEFAULT_LEARNER) -> Pick | None:
        """The next of ``question_ids`` (in bank order) to ask, or None when nothing is left for now.

        A card failed (rated Again) in this session comes back once RELEARN_AFTER other questions have been
        asked, and not before, whatever FSRS's one-minute learning step says (asked again at once, it tests
        short-term memory only), unless nothing else is left. Then come cards due now, new questions, and
        cards in (re)learning due within LEARN_AHEAD.
        """
        moment = now or _now()
        cards = self.cards(learner)
        allowed = set(question_ids)
        since = self._asked_since_failure(session_id, learner) if session_id else {}
        ready = sorted((n, q) for q, n in since.items() if n >= RELEARN_AFTER and q in allowed)
        if ready:
            return Pick(ready[-1][1], "relearn", cards.get(ready[-1][1]))
        waiting = {q for q, n in since.items() if n < RELEARN_AFTER}
        due = sorted((c for c in cards.values() if c.question_id in allowed - waiting and c.due <= moment),
                     key=lambda c: (c.due, c.question_id))
        if due:
            return Pick(due[0].question_id, "due", due[0])
        new = next((q for q in question_ids if q not in cards), None)
        if new is not None:
            return Pick(new, "new", None)
        ahead = sorted((c for c in cards.values() if c.question_id in allowed and c.learning
                        and c.due <= moment + LEARN_AHEAD), key=lambda c: (c.question_id in waiting, c.due,
                                                                             c.question_id))
        if ahead:
            return Pick(ahead[0].question_id, "ahead", ahead[0])
        return None

    def session_ratings(self, session_id: str, *, learner: str = DEFAULT_LEARNER) -> dict[str, int]:
        """The last rating (1 Again … 4 Easy) of each question rated in this session."""
        rows = self._conn.execute(
            "SELECT question_id, rating FROM attempts WHERE learner = ? AND session_id = ? "
            "AND rating IS NOT NULL ORDER BY created_at, id", (learner, session_id)).fetchall()
        return dict(rows)

    def _asked_since_failure(self, session_id: str, learner: str) -> dict[str, int]:
        """For each question whose last rating in this session is Again: how many questions were asked since."""
        rows = self._conn.execute(
            "SELECT question_id, rating FROM attempts WHERE learner = ? AND session_id = ? "
            "AND rating IS NOT NULL ORDER BY created_at, id", (learner, session_id)).fetchall()
        last: dict[str, tuple[int, int]] = {}
        for position, (question_id, rating) in enumerate(rows):
            last[question_id] = (position, rating)
        return {q: len(rows) - 1 - position for q, (position, rating) in last.items() if rating == 1}

    def queue_counts(self, question_ids: Sequence[str], *, now: datetime | None = None,
                     learner: str = DEFAULT_LEARNER) -> QueueCounts:
        moment = now or _now()
        cards = self.cards(learner)
        chosen = [cards[q] for q in question_ids if q in cards]
        return QueueCounts(due_now=sum(c.due <= moment for c in chosen), new=len(question_ids) - len(chosen),
                           learning=sum(c.learning for c in chosen))

    def attempts(self, learner: str | None = None) -> Iterator[dict[str, object]]:
        """Every attempt (of one learner, or of all), oldest first, with its key-point verdicts."""
        from fsrs import Rating

        where, args = ("WHERE learner = ?", (learner,)) if learner is not None else ("", ())
        cur = self._conn.execute(
            "SELECT id, created_at, learner, session_id, question_id, status, answer, score, credited_score, "
            f"hints, suggested_rating, rating, key_points, feedback FROM attempts {where} "
            "ORDER BY created_at, id", args)
        for row in cur:
            (attempt_id, created_at, who, session_id, question_id, status, answer, score, credited, hints,
             suggested, rating, kps, feedback) = row
            yield {"id": attempt_id, "created_at": created_at, "learner": who, "session_id": session_id,
                   "question_id": question_id, "status": status, "answer": answer, "score": score,
                   "credited_score": credited, "hints": hints,
                   "suggested_rating": Rating(suggested).name if suggested else None,
                   "rating": Rating(rating).name if rating else None,
                   "key_points": json.loads(kps or "[]"),
                   "feedback": json.loads(feedback) if feedback else None}

    def summary(self, bank: Bank, now: datetime | None = None, *, weakest: int = 5, history_days: int = 14,
                learner: str = DEFAULT_LEARNER) -> ProgressSummary:
        """Mastery per topic, due counts, streak, history and the weakest key points, for ``bank``."""
        moment = now or _now()
        cards = {k: v for k, v in self.cards(learner).items() if k in bank.by_id}
        due_now = {c.question_id for c in cards.values() if c.due <= moment}
        end_of_day = datetime.combine(moment.astimezone().date() + timedelta(days=1), datetime.min.time())
        due_today = sum(c.due <= end_of_day.astimezone() for c in cards.values())
        topics: dict[str, list[str]] = {}
        for q in bank.questions:
            topics.setdefault(q.topic, []).append(q.id)
        rows = []
        for topic, ids in sorted(topics.items()):
            scores = [cards[i].last_score or 0.0 for i in ids if i in cards]
            rows.append(TopicProgress(
                topic=topic, questions=len(ids), seen=len(scores),
                mastered=sum(s >= MASTERED_SCORE for s in scores),
                mastery=round(sum(scores) / len(ids), 1),
                average_score=round(sum(scores) / len(scores), 1) if scores else None,
                due=sum(i in due_now for i in ids)))
        days = self._practice_days(learner)
        counts = self._conn.execute(
            "SELECT COUNT(*), SUM(status = 'graded') FROM attempts WHERE learner = ?", (learner,)).fetchone()
        due_cards = [DueCard(question_id=c.question_id, question=bank.by_id[c.question_id].question,
                             topic=bank.by_id[c.question_id].topic, due=_iso(c.due), last_score=c.last_score)
                     for c in sorted((cards[q] for q in due_now), key=lambda c: (c.due, c.question_id))]
        return ProgressSummary(
            learner=learner, database=str(self.path), attempts=counts[0], graded=counts[1] or 0,
            questions_seen=len(cards), questions_total=len(bank), due_now=len(due_now), due_today=due_today,
            new=len(bank) - len(cards), streak_days=streak(days, moment.astimezone().date()),
            practice_days=len(days), last_practice=max(days).isoformat() if days else None, topics=rows,
            weakest_key_points=[w for w in self.weakest_key_points(limit=weakest * 3, learner=learner)
                                if w.question_id in bank.by_id][:weakest],
            history=self.history(days=history_days, now=moment, learner=learner), due_cards=due_cards)

    def history(self, *, days: int = 14, now: datetime | None = None,
                learner: str = DEFAULT_LEARNER) -> list[DayHistory]:
        """One entry per local day, oldest first, ending today: what was practised that day."""
        today = (now or _now()).astimezone().date()
        first = today - timedelta(days=max(1, days) - 1)
        per_day: dict[date, list[tuple[str, int | None, float | None]]] = {}
        rows = self._conn.execute("SELECT created_at, status, rating, credited_score FROM attempts "
                                  "WHERE learner = ? AND rating IS NOT NULL", (learner,)).fetchall()
        for created_at, status, rating, credited in rows:
            day = datetime.fromisoformat(created_at).astimezone().date()
            if first <= day <= today:
                per_day.setdefault(day, []).append((status, rating, credited))
        out = []
        for offset in range((today - first).days + 1):
            day = first + timedelta(days=offset)
            entries = per_day.get(day, [])
            graded = [c for s, _, c in entries if s == "graded" and c is not None]
            out.append(DayHistory(date=day.isoformat(), reviews=len(entries), graded=len(graded),
                                  again=sum(r == 1 for _, r, _ in entries),
                                  mean_score=round(sum(graded) / len(graded), 1) if graded else None))
        return out

    def weakest_key_points(self, *, limit: int = 5, learner: str = DEFAULT_LEARNER) -> list[WeakKeyPoint]:
        """Key points missed most often (missed counts 1, partial 0.5), over every graded attempt."""
        rows = self._conn.execute(
            "SELECT a.question_id, k.kp_index, k.text, COUNT(*) AS n, "
            " SUM(k.verdict IN ('missing','contradicted')) AS missed, SUM(k.verdict = 'partial') AS partial "
            "FROM key_point_results k JOIN attempts a ON a.id = k.attempt_id WHERE a.learner = ? "
            "GROUP BY a.question_id, k.kp_index HAVING missed + partial > 0 "
            "ORDER BY (missed + 0.5 * partial) * 1.0 / n DESC, n DESC, a.question_id, k.kp_index "
            "LIMIT ?", (learner, limit)).fetchall()
        return [WeakKeyPoint(question_id=r[0], index=r[1], text=r[2], attempts=r[3], missed=r[4],
                             partial=r[5]) for r in rows]

    def _practice_days(self, learner: str) -> set[date]:
        rows = self._conn.execute("SELECT created_at FROM attempts WHERE learner = ? AND rating IS NOT NULL",
                                  (learner,)).fetchall()
        return {datetime.fromisoformat(r[0]).astimezone().date() for r in rows}


def streak(days: set[date], today: date) -> int:
    """Consecutive practice days ending today, or yesterday when today has none yet."""
    day = today if today in days else today - timedelta(days=1)
    count = 0
    while day in days:
        count += 1
        day -= timedelta(days=1)
    return count


# ---------------------------------------------------------------- files


def _connect(path: Path) -> sqlite3.Connection:
    try:
        # Transactions are explicit (_tx). The busy timeout lets several dlgrader processes share the file:
        # one waits for another's write lock (a migration, an attempt being stored) instead of failing.
        # check_same_thread off: the server runs each store operation in a worker thread, one at a time.
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise ProgressStoreError(f"cannot open the progress database {path}: {exc}") from exc
    return conn


def _check_readable(conn: sqlite3.Connection) -> int:
    """The schema version; raises sqlite3.DatabaseError when the file is not a sound SQLite database."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(problems[:3]))
    return version


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _set_aside(path: Path) -> Path:
    """Rename a corrupt database (and its journal) so nothing ever overwrites it."""
    aside = path.with_name(f"{DB_NAME}.corrupt-{_stamp()}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{DB_NAME}.corrupt-{_stamp()}-{n}")
    try:
        path.rename(aside)
        journal = path.with_name(path.name + "-journal")
        if journal.exists():
            journal.rename(aside.with_name(aside.name + "-journal"))
    except OSError as exc:
        raise ProgressStoreError(f"{path} is corrupt and could not be moved aside: {exc}") from exc
    return aside
