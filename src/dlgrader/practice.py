"""The practice loop: ask a question, read a multi-line answer, grade it, show it, let the learner confirm
or change the rating, store it, schedule it.

The loop is driven through the streams it is given (a text input stream and a rich ``Console``) and a
``Grader`` factory, so tests run it end to end. The Grader is built in a background thread while the user
reads the first question: the bank alone (fast) is enough to start.

At the answer prompt a line holding only a command acts on it: ``hint``, ``skip`` or ``ref`` (give up: the
reference is shown and the question counts as not known), ``repeat``, ``quit``. An empty line (or Ctrl-D)
ends the answer. After the result the suggested rating is shown: Enter accepts it, one key (1-4 or a/h/g/e)
changes it. A question failed in the session (rated Again) is asked again once three other questions have
been asked, or at the end (at most twice). Ctrl-D and Ctrl-C end the session; every attempt is committed as
soon as it is graded.
"""

from __future__ import annotations

import random
import select
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TextIO

from rich.console import Console
from rich.text import Text

from dlgrader.loader import BackgroundLoader
from dlgrader.progress import (
    DEFAULT_LEARNER,
    HINT_FACTOR,
    RELEARN_AFTER,
    CardInfo,
    ProgressStore,
    Recorded,
    rating_named,
)

if TYPE_CHECKING:
    from fsrs import Rating

    from dlgrader.corpus.loader import Bank
    from dlgrader.models import GradeResult, Question
    from dlgrader.service import Grader

Mode = Literal["due", "random", "weakest"]
COMMANDS = {"hint": "hint", ":hint": "hint", "skip": "skip", ":skip": "skip", "ref": "ref", ":ref": "ref",
            "reference": "ref", "show reference": "ref", "repeat": "repeat", ":repeat": "repeat",
            "quit": "quit", ":quit": "quit", ":q": "quit", "exit": "quit"}
RATING_KEYS = {"1": "again", "2": "hard", "3": "good", "4": "easy", "a": "again", "h": "hard", "g": "good",
               "e": "easy", "again": "again", "hard": "hard", "good": "good", "easy": "easy"}
READ_STEP_S = 0.25
MAX_RELEARNS = 2
"""A question failed in a session is asked again at most this many times in that session."""
HINT_WORDS = 8
ENDINGS = {"done": "All questions asked", "quit": "You quit", "Ctrl-D": "Input ended (Ctrl-D)",
           "Ctrl-C": "Interrupted (Ctrl-C)"}


@dataclass(frozen=True)
class PracticeOptions:
    """What the user asked for on the command line."""

    topic: str | None = None
    difficulty: str | None = None
    count: int = 10
    mode: Mode = "due"
    feedback: bool = False
    seed: int | None = None
    learner: str = DEFAULT_LEARNER


@dataclass
class SessionStats:
    """What happened in one session (printed at the end, returned to the caller)."""

    asked: int = 0
    graded: int = 0
    skipped: int = 0
    revealed: int = 0
    hints: int = 0
    relearned: int = 0
    overridden: int = 0
    scores: list[float] = field(default_factory=list)
    ended_by: str = "done"


class _EndSession(Exception):
    """Internal: the user ended the session (quit, Ctrl-D)."""

    def __init__(self, how: str) -> None:
        self.how = how


# ---------------------------------------------------------------- choosing questions


def filter_questions(bank: Bank, *, topic: str | None, difficulty: str | None) -> list[Question]:
    """The questions of a topic and difficulty (``Bank.select``; an unknown topic raises BankQueryError)."""
    return bank.select(topic=topic, difficulty=difficulty)


def plan(questions: list[Question], cards: dict[str, CardInfo], *, mode: Mode, now: datetime,
         rng: random.Random) -> list[Question]:
    """The order to ask ``questions`` in.

    due: due cards (most overdue first), then new questions in bank order, then the rest by due date.
    weakest: seen questions by their last credited score, lowest first, then new ones.
    random: a shuffle.
    """
    if mode == "random":
        order = list(questions)
        rng.shuffle(order)
        return order
    seen = [q for q in questions if q.id in cards]
    new = [q for q in questions if q.id not in cards]
    if mode == "weakest":
        seen.sort(key=lambda q: (cards[q.id].last_score or 0.0, cards[q.id].due))
        return seen + new
    due = sorted((q for q in seen if cards[q.id].due <= now), key=lambda q: cards[q.id].due)
    later = sorted((q for q in seen if cards[q.id].due > now), key=lambda q: cards[q.id].due)
    return due + new + later


def gist(text: str, words: int = HINT_WORDS) -> str:
    """The start of a key point: enough to jog the memory without giving the whole fact away."""
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def plural(n: int, word: str) -> str:
    """'1 day', '3 days'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def when(due: datetime, now: datetime) -> str:
    """'in 10 minutes', 'in 3 days': how far away a due date is."""
    seconds = max(0.0, (due - now).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return f"in {plural(round(seconds / size), unit)}"
    return "now"


# ---------------------------------------------------------------- the loop


class PracticeSession:
    """One practice session over the questions of a bank, storing every attempt in ``store``."""

    def __init__(self, *, bank: Bank, store: ProgressStore, grader_factory: Callable[[], Grader],
                 console: Console, stdin: TextIO, options: PracticeOptions,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.bank = bank
        self.store = store
        self.console = console
        self.stdin = stdin
        self.options = options
        self.clock = clock or (lambda: datetime.now(UTC))
        self.loader = BackgroundLoader(grader_factory)
        self.session_id = uuid.uuid4().hex[:12]
        self.stats = SessionStats()
        self._asked: list[str] = []
        self._relearns: dict[str, int] = {}
        self._order: list[Question] = []
        isatty = getattr(stdin, "isatty", None)
        self._echoed = bool(isatty and isatty())

    def run(self) -> SessionStats:
        """Ask questions until ``count`` is reached (then the failed ones again), the user quits, or input
        ends."""
        questions = filter_questions(self.bank, topic=self.options.topic, difficulty=self.options.difficulty)
        if self.options.mode != "due":
            self._order = plan(questions, self.store.cards(self.options.learner), mode=self.options.mode,
                               now=self.clock(), rng=random.Random(self.options.seed))
        self._ids = [q.id for q in questions]
        self.loader.start()
        fresh = 0
        try:
            while (step := self._next(fresh)) is not None:
                question, relearn = step
                self.stats.asked += 1
                if relearn:
                    self._relearns[question.id] = self._relearns.get(question.id, 0) + 1
                    self.stats.relearned += 1
                    heading = "Again: you missed this one earlier in this session"
                else:
                    fresh += 1
                    heading = f"Question {fresh} of {self.options.count}"
                self._asked.append(question.id)
                self._ask(question, heading)
        except _EndSession as end:
            self.stats.ended_by = end.how
        except KeyboardInterrupt:
            self.stats.ended_by = "Ctrl-C"
            self.console.print()
        self._print_summary()
        self.loader.settle()
        return self.stats

    def _next(self, fresh: int) -> tuple[Question, bool] | None:
        """The next question and whether it is relearning: a question failed in this session comes back
        once RELEARN_AFTER others have been asked; fresh questions until ``count``; then the failed ones
        that are left, whatever the gap, so that none ends the session unrevisited."""
        failed = {q: n for q, n in self._failed_since().items() if self._relearns.get(q, 0) < MAX_RELEARNS}
        ready = sorted((n, q) for q, n in failed.items() if n >= RELEARN_AFTER)
        if ready:
            return self.bank.by_id[ready[-1][1]], True
        if fresh < self.options.count:
            question = self._fresh()
            if question is not None:
                return question, False
        if failed:
            return self.bank.by_id[max((n, q) for q, n in failed.items())[1]], True
        return None

    def _failed_since(self) -> dict[str, int]:
        """Questions rated Again in this session (their last rating), with how many were asked since."""
        last: dict[str, int] = {}
        for position, question_id in enumerate(self._asked):
            last[question_id] = position
        ratings = self.store.session_ratings(self.session_id, learner=self.options.learner)
        return {q: len(self._asked) - 1 - p for q, p in last.items() if ratings.get(q) == 1}

    def _fresh(self) -> Question | None:
        asked = set(self._asked)
        if self.options.mode == "due":
            ids = [q for q in self._ids if q not in asked]
            pick = self.store.next_card(ids, now=self.clock(), learner=self.options.learner)
            return self.bank.by_id[pick.question_id] if pick is not None else None
        return next((q for q in self._order if q.id not in asked), None)

    # ------------------------------------------------------------ one question

    def _ask(self, question: Question, heading: str) -> None:
        self._show_question(question, heading, help_line=True)
        hints: list[int] = []
        lines: list[str] = []
        eof = False
        while True:
            line = self._readline("> " if not lines else "… ")
            if line is None:
                eof = True
                break
            command = COMMANDS.get(line.strip().lower())
            if command == "quit":
                if lines:  # typed, then quit without the empty line: the answer still counts, as at Ctrl-D
                    self._grade(question, "\n".join(lines).strip(), len(hints))
                raise _EndSession("quit")
            if command in ("skip", "ref"):
                self._give_up(question, lines, len(hints), "skipped" if command == "skip" else "revealed")
                return
            if command == "repeat":
                self._show_question(question, heading, help_line=False)
                if lines:
                    self.console.print(Text("Your answer so far:\n" + "\n".join(lines), style="dim"))
                continue
            if command == "hint":
                self._hint(question, lines, hints)
                continue
            if not line.strip():
                if lines:
                    break
                continue
            lines.append(line)
        answer = "\n".join(lines).strip()
        if answer:
            recorded = self._grade(question, answer, len(hints))
            if not eof and recorded is not None:
                self._confirm_rating(question, recorded)
        if eof:
            raise _EndSession("Ctrl-D")

    def _readline(self, prompt: str) -> str | None:
        """One line of input without its newline; None at end of input (Ctrl-D)."""
        self.console.print(Text(prompt, style="bold cyan"), end="")
        self.console.file.flush()
        if self._echoed:
            # A terminal: wait in short steps. A Ctrl-C that the kernel hands to one of the model's native
            # threads does not interrupt a blocking read in this thread; Python raises it here, at the next
            # step, instead of after the next line of input. (A terminal returns one line per read, so
            # nothing waits in Python's buffer while select() says there is nothing to read.)
            while not select.select([self.stdin], [], [], READ_STEP_S)[0]:
                pass
        line = self.stdin.readline()
        if line == "":
            self.console.print()
            return None
        line = line.rstrip("\r\n")
        if not self._echoed:
            self.console.print(Text(line))  # a pipe does not echo like a terminal: keep the transcript whole
        return line

    def _show_question(self, question: Question, heading: str, *, help_line: bool) -> None:
        self.console.rule(Text(heading, style="bold"))
        self.console.print(Text(f"{question.topic} · {question.difficulty} · id {question.id}", style="dim"))
        self.console.print(Text(question.question, style="bold"))
        if help_line:
            self.console.print(Text("Type your answer; finish with an empty line (or Ctrl-D). Commands on a "
                                    "line of their own: hint, skip (show the answer), repeat, quit.",
                                    style="dim"))

    def _hint(self, question: Question, lines: list[str], hints: list[int]) -> None:
        """Show the gist of a key point the answer so far misses; each hint costs credit."""
        candidates = [i for i in range(len(question.key_points)) if i not in hints]
        if lines and candidates:
            partial = self._grader().grade("\n".join(lines), question_id=question.id)
            missing = [k.index for k in partial.key_points
                       if k.verdict != "covered" and k.index in candidates]
            candidates = missing or candidates
        if not candidates:
            self.console.print(Text("No more hints for this question.", style="yellow"))
            return
        hints.append(candidates[0])
        self.stats.hints += 1
        factor = HINT_FACTOR ** len(hints)
        hint = gist(question.key_points[candidates[0]].text)
        self.console.print(Text("Hint: ", style="bold yellow") + Text(hint)
                           + Text(f"  (this answer's score will count ×{factor:.2f})", style="dim"))

    def _give_up(self, question: Question, lines: list[str], hints: int,
                 status: Literal["skipped", "revealed"]) -> None:
        """Skip: show the reference; the question counts as not known (rated Again) and comes back."""
        from dlgrader.render import render_reference

        render_reference(question, self.console)
        recorded = self._record(question, status, "\n".join(lines), None, hints)
        if status == "skipped":
            self.stats.skipped += 1
        else:
            self.stats.revealed += 1
        self._print_schedule(recorded, note="counts as not known; it comes back later in this session")

    # ------------------------------------------------------------ grading and after

    def _grader(self) -> Grader:
        if self.loader.state != "loading":
            return self.loader.get()
        with self.console.status("Loading the grading model…"):
            return self.loader.get()

    def _grade(self, question: Question, answer: str, hints: int) -> Recorded | None:
        from dlgrader.render import render_practice_result

        grader = self._grader()
        result = grader.grade(answer, question_id=question.id)
        render_practice_result(result, self.console, heading="Q:")
        if result.status != "graded" or result.score is None:
            return None
        recorded = self._record(question, "graded", answer, result, hints)
        self.stats.graded += 1
        if recorded.credited_score is not None:
            self.stats.scores.append(recorded.credited_score)
        if hints:
            self.console.print(Text(f"{plural(hints, 'hint')}: stored score {result.score:g} × "
                                    f"{HINT_FACTOR ** hints:.2f} = {recorded.credited_score:g}", style="dim"))
        if self.options.feedback:
            self._feedback(grader, result, answer, recorded.attempt_id)
        return recorded

    def _feedback(self, grader: Grader, result: GradeResult, answer: str, attempt_id: int) -> None:
        """LLM feedback after the offline result; whatever goes wrong, the offline result stands."""
        with self.console.status("Asking the LLM for feedback…"):
            grader.add_feedback([result], [answer])
        feedback = result.feedback
        if feedback is None or not feedback.available:
            reason = (feedback.reason if feedback else None) or "no feedback came back"
            self.console.print(Text(f"LLM feedback unavailable: {reason}. The offline grade above stands.",
                                    style="yellow"))
            return
        self.store.set_feedback(attempt_id, feedback.model_dump(mode="json"))
        from dlgrader.render import render_feedback

        render_feedback(feedback, self.console)

    def _confirm_rating(self, question: Question, recorded: Recorded) -> None:
        """Show the suggested rating; Enter accepts it, one key changes it, ``ref`` shows the reference."""
        from dlgrader.render import render_reference

        suggested = recorded.rating
        assert suggested is not None and recorded.due is not None
        interval = when(recorded.due, recorded.at)
        self.console.print(Text(f"Suggested rating: {suggested.name} (next review {interval}).", style="cyan"))
        while True:
            line = self._readline("Enter: accept · 1 Again · 2 Hard · 3 Good · 4 Easy · ref · quit  ")
            if line is None:
                raise _EndSession("Ctrl-D")
            choice = line.strip().lower()
            command = COMMANDS.get(choice)
            if command == "quit":
                raise _EndSession("quit")
            if command == "ref":
                render_reference(question, self.console)
                continue
            if not choice:
                self.console.print(Text(f"Rated {suggested.name}; next review {interval}.", style="cyan"))
                return
            if choice in RATING_KEYS:
                self._override(recorded, rating_named(RATING_KEYS[choice]))
                return
            self.console.print(Text("Press Enter to accept the suggested rating, 1-4 (or a, h, g, e) to change "
                                    "it, ref for the reference answer, or quit.", style="dim"))

    def _override(self, recorded: Recorded, rating: Rating) -> None:
        change = self.store.set_rating(recorded.attempt_id, rating, learner=self.options.learner)
        note = ""
        if change.overridden and change.suggested is not None:
            self.stats.overridden += 1
            note = f" (you changed it from {change.suggested.name})"
        self.console.print(Text(f"Rated {change.rating.name}{note}; next review {when(change.due, change.at)}.",
                                style="cyan"))

    def _record(self, question: Question, status: Literal["graded", "skipped", "revealed"], answer: str,
                result: GradeResult | None, hints: int) -> Recorded:
        return self.store.record(question_id=question.id, status=status, answer=answer, result=result,
                                 hints=hints, session_id=self.session_id, now=self.clock(),
                                 learner=self.options.learner)

    def _print_schedule(self, recorded: Recorded, *, note: str | None = None) -> None:
        if recorded.due is None or recorded.rating is None:
            return
        line = Text(f"Rated {recorded.rating.name}; next review {when(recorded.due, recorded.at)}.",
                    style="cyan")
        if note:
            line.append(f" ({note})", style="dim")
        self.console.print(line)

    def _print_summary(self) -> None:
        s = self.stats
        parts = [f"{s.graded} graded"]
        if s.scores:
            parts[0] += f" (mean score {sum(s.scores) / len(s.scores):.0f}/100)"
        if s.skipped:
            parts.append(f"{s.skipped} skipped")
        if s.revealed:
            parts.append(f"{s.revealed} revealed")
        if s.hints:
            parts.append(plural(s.hints, "hint"))
        if s.relearned:
            parts.append(f"{s.relearned} asked again")
        if s.overridden:
            parts.append(f"{plural(s.overridden, 'rating')} changed")
        due = len(self.store.due_queue(self.clock(), within=timedelta(hours=24), learner=self.options.learner))
        self.console.rule(Text("Session over", style="bold"))
        self.console.print(f"{ENDINGS[s.ended_by]}: {', '.join(parts)}. Progress saved in {self.store.path}.")
        self.console.print(f"{plural(due, 'question')} due in the next 24 hours; "
                           "`dlgrader progress` shows where you stand.")
