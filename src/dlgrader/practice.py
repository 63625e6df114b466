"""The practice loop: ask a question, read a multi-line answer, grade it, show it, store it, schedule it.

The loop is driven through the streams it is given (a text input stream and a rich ``Console``) and a
``Grader`` factory, so tests run it end to end. The Grader is built in a background thread while the user
reads the first question: the bank alone (fast) is enough to start.

At the answer prompt a line holding only a command acts on it: ``hint``, ``skip``, ``ref`` (show the
reference answer instead of answering), ``repeat``, ``quit``. An empty line (or Ctrl-D) ends the answer;
Ctrl-D and Ctrl-C end the session; every attempt is committed as soon as it is graded.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, TextIO

from rich.console import Console
from rich.text import Text

from dlgrader.loader import BackgroundLoader
from dlgrader.progress import HINT_FACTOR, CardInfo, ProgressStore, Recorded

if TYPE_CHECKING:
    from dlgrader.corpus.loader import Bank
    from dlgrader.models import GradeResult, Question
    from dlgrader.service import Grader

Mode = Literal["due", "random", "weakest"]
COMMANDS = {"hint": "hint", ":hint": "hint", "skip": "skip", ":skip": "skip", "ref": "ref", ":ref": "ref",
            "reference": "ref", "show reference": "ref", "repeat": "repeat", ":repeat": "repeat",
            "quit": "quit", ":quit": "quit", ":q": "quit", "exit": "quit"}
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


@dataclass
class SessionStats:
    """What happened in one session (printed at the end, returned to the caller)."""

    asked: int = 0
    graded: int = 0
    skipped: int = 0
    revealed: int = 0
    hints: int = 0
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


def when(due: datetime, now: datetime) -> str:
    """'in 10 minutes', 'in 3 days': how far away a due date is."""
    seconds = max(0.0, (due - now).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = round(seconds / size)
            return f"in {n} {unit}{'s' if n != 1 else ''}"
    return "now"


# ---------------------------------------------------------------- the grader, loaded in the background


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
        isatty = getattr(stdin, "isatty", None)
        self._echoed = bool(isatty and isatty())

    def run(self) -> SessionStats:
        """Ask questions until ``count`` is reached, the user quits, or input ends."""
        questions = filter_questions(self.bank, topic=self.options.topic, difficulty=self.options.difficulty)
        order = plan(questions, self.store.cards(), mode=self.options.mode, now=self.clock(),
                     rng=random.Random(self.options.seed))[: self.options.count]
        self.loader.start()
        try:
            for number, question in enumerate(order, 1):
                self.stats.asked += 1
                self._ask(question, number, len(order))
        except _EndSession as end:
            self.stats.ended_by = end.how
        except KeyboardInterrupt:
            self.stats.ended_by = "Ctrl-C"
            self.console.print()
        self._print_summary()
        self.loader.settle()
        return self.stats

    # ------------------------------------------------------------ one question

    def _ask(self, question: Question, number: int, total: int) -> None:
        self._show_question(question, number, total, help_line=True)
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
            if command == "skip":
                self._record(question, "skipped", "\n".join(lines), None, len(hints))
                self.stats.skipped += 1
                self.console.print(Text("Skipped.", style="dim"))
                return
            if command == "ref":
                self._reveal(question, lines, len(hints))
                return
            if command == "repeat":
                self._show_question(question, number, total, help_line=False)
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
            self._grade(question, answer, len(hints))
            if not eof:
                self._after_result(question)
        if eof:
            raise _EndSession("Ctrl-D")

    def _readline(self, prompt: str) -> str | None:
        """One line of input without its newline; None at end of input (Ctrl-D)."""
        self.console.print(Text(prompt, style="bold cyan"), end="")
        self.console.file.flush()
        line = self.stdin.readline()
        if line == "":
            self.console.print()
            return None
        line = line.rstrip("\r\n")
        if not self._echoed:
            self.console.print(Text(line))  # a pipe does not echo like a terminal: keep the transcript whole
        return line

    def _show_question(self, question: Question, number: int, total: int, *, help_line: bool) -> None:
        self.console.rule(Text(f"Question {number} of {total}", style="bold"))
        self.console.print(Text(f"{question.topic} · {question.difficulty} · id {question.id}", style="dim"))
        self.console.print(Text(question.question, style="bold"))
        if help_line:
            self.console.print(Text("Type your answer; finish with an empty line (or Ctrl-D). Commands on a "
                                    "line of their own: hint, skip, ref (show the reference), repeat, quit.",
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

    def _reveal(self, question: Question, lines: list[str], hints: int) -> None:
        self.console.print(Text("Reference answer: ", style="bold") + Text(question.reference_answer))
        recorded = self._record(question, "revealed", "\n".join(lines), None, hints)
        self.stats.revealed += 1
        self._print_schedule(recorded, note="shown before answering, so it counts as not known")

    # ------------------------------------------------------------ grading and after

    def _grader(self) -> Grader:
        if self.loader.state != "loading":
            return self.loader.get()
        with self.console.status("Loading the grading model…"):
            return self.loader.get()

    def _grade(self, question: Question, answer: str, hints: int) -> None:
        from dlgrader.render import render_result

        grader = self._grader()
        result = grader.grade(answer, question_id=question.id)
        render_result(result, self.console)
        recorded = self._record(question, "graded", answer, result, hints)
        self.stats.graded += 1
        if recorded.credited_score is not None:
            self.stats.scores.append(recorded.credited_score)
        note = None
        if hints and result.score is not None:
            note = (f"{hints} hint{'s' if hints > 1 else ''}: stored score {result.score:g} × "
                    f"{HINT_FACTOR ** hints:.2f} = {recorded.credited_score:g}")
        self._print_schedule(recorded, note=note)
        if self.options.feedback:
            self._feedback(grader, result, answer, recorded.attempt_id)

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

    def _after_result(self, question: Question) -> None:
        """Offer the reference answer before moving on."""
        while True:
            line = self._readline("Enter: next · ref: reference answer · quit: end  ")
            if line is None:
                raise _EndSession("Ctrl-D")
            command = COMMANDS.get(line.strip().lower())
            if command == "quit":
                raise _EndSession("quit")
            if command == "ref":
                self.console.print(Text("Reference answer: ", style="bold") + Text(question.reference_answer))
                continue
            if not line.strip():
                return
            self.console.print(Text("Press Enter for the next question, or type ref or quit.", style="dim"))

    def _record(self, question: Question, status: Literal["graded", "skipped", "revealed"], answer: str,
                result: GradeResult | None, hints: int) -> Recorded:
        return self.store.record(question_id=question.id, status=status, answer=answer, result=result,
                                 hints=hints, session_id=self.session_id, now=self.clock())

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
            parts.append(f"{s.hints} hint{'s' if s.hints > 1 else ''}")
        due = len(self.store.due_queue(self.clock(), within=timedelta(hours=24)))
        self.console.rule(Text("Session over", style="bold"))
        self.console.print(f"{ENDINGS[s.ended_by]}: {', '.join(parts)}. Progress saved in {self.store.path}.")
        self.console.print(f"{due} question{'s' if due != 1 else ''} due in the next 24 hours; "
                           "`dlgrader progress` shows where you stand.")
