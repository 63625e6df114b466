"""``dlgrader practice``, ``dlgrader progress [--json] | export`` and ``dlgrader questions list|show|random``.

Only the bank is loaded before the first question is shown; the Grader loads in the background.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

if TYPE_CHECKING:
    from rich.console import Console

    from dlgrader.corpus.loader import Bank
    from dlgrader.models import Question
    from dlgrader.progress import ProgressStore, ProgressSummary

DIFFICULTIES = click.Choice(["beginner", "intermediate", "advanced"])


def _check_profile(ctx: click.Context, param: click.Parameter, value: str) -> str:
    import re

    from dlgrader.progress import LEARNER_PATTERN

    if not re.match(LEARNER_PATTERN, value):
        raise click.BadParameter("use 1-64 letters, digits, '_', '.' or '-'")
    return value


PROFILE = click.option("--profile", default="default", show_default=True, envvar="DLGRADER_PROFILE",
                       callback=_check_profile,
                       help="Whose progress: a local profile name (env DLGRADER_PROFILE). `dlgrader serve` "
                            "uses the same store, so the web app's profile of the same name shares it.")


def _console() -> Console:
    from rich.console import Console

    # Plain text when stdout is not a terminal; NO_COLOR (which rich reads) also drops bold and dim here.
    console = Console(highlight=False)
    return Console(highlight=False, color_system=None) if console.no_color else console


def _bank() -> Bank:
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank

    return load_bank(get_settings().corpus)


def _store() -> ProgressStore:
    from dlgrader.config import get_settings
    from dlgrader.progress import ProgressStore

    store = ProgressStore.open(get_settings().resolved_data_dir())
    for notice in store.notices:
        click.secho(notice, fg="yellow", err=True)
    return store


def _filtered(bank: Bank, topic: str | None, difficulty: str | None) -> list[Question]:
    from dlgrader.errors import BankQueryError
    from dlgrader.practice import filter_questions

    try:
        questions = filter_questions(bank, topic=topic, difficulty=difficulty)
    except BankQueryError as exc:  # an unknown topic: a usage error, like an unknown --difficulty
        raise click.UsageError(str(exc)) from exc
    if not questions:
        topics = ", ".join(sorted({q.topic for q in bank.questions}))
        raise click.UsageError(f"no question matches topic={topic!r} difficulty={difficulty!r}; "
                               f"topics: {topics}")
    return questions


# ---------------------------------------------------------------- practice


@click.command("practice")
@click.option("--topic", help="Only questions of this topic (see `dlgrader questions list`).")
@click.option("--difficulty", type=DIFFICULTIES, help="Only questions of this difficulty.")
@click.option("--count", type=click.IntRange(min=1), default=10, show_default=True,
              help="Questions in this session.")
@click.option("--mode", type=click.Choice(["due", "random", "weakest"]), default="due", show_default=True,
              help="due: spaced-repetition queue, then new questions; weakest: lowest scores first.")
@click.option("--feedback", is_flag=True, help="Add LLM feedback after each offline result.")
@click.option("--seed", type=int, help="Seed for --mode random (reproducible sessions).")
@PROFILE
def practice(topic: str | None, difficulty: str | None, count: int, mode: str, feedback: bool,
             seed: int | None, profile: str) -> None:
    """Practise: answer questions, see what you covered and missed, confirm or change the rating; progress is
    saved. Questions you miss come back later in the same session."""
    from dlgrader.practice import PracticeOptions, PracticeSession
    from dlgrader.service import default_grader

    bank = _bank()
    _filtered(bank, topic, difficulty)
    with _store() as store:
        session = PracticeSession(
            bank=bank, store=store, grader_factory=default_grader, console=_console(), stdin=sys.stdin,
            options=PracticeOptions(topic=topic, difficulty=difficulty, count=count, mode=mode,  # type: ignore[arg-type]
                                    feedback=feedback, seed=seed, learner=profile))
        session.run()


# ---------------------------------------------------------------- progress


@click.group("progress", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True,
              help="Days of review history to show.")
@PROFILE
@click.pass_context
def progress_group(ctx: click.Context, as_json: bool, days: int, profile: str) -> None:
    """Mastery per topic, due questions, streak, review history and weakest key points."""
    if ctx.invoked_subcommand is not None:
        return
    bank = _bank()
    with _store() as store:
        summary = store.summary(bank, history_days=days, learner=profile)
    if as_json:
        click.echo(summary.model_dump_json(indent=2))
        return
    render_progress(summary, _console())


@progress_group.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: stdout).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--all-profiles", is_flag=True, help="Every learner's attempts, not only --profile's.")
@PROFILE
def progress_export(output: Path | None, fmt: str, all_profiles: bool, profile: str) -> None:
    """Every attempt with its key-point verdicts, for other tools."""
    bank = _bank()
    with _store() as store:
        rows = list(store.attempts(None if all_profiles else profile))
    for row in rows:
        question = bank.get(str(row["question_id"]))
        row["topic"] = question.topic if question else None
    if output is None:
        _export(rows, fmt, sys.stdout)
        return
    from dlgrader.cli.report import writing

    with writing(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as out:
        _export(rows, fmt, out)
    click.echo(f"{len(rows)} attempts written to {output}", err=True)


def _export(rows: list[dict[str, object]], fmt: str, out: TextIO) -> None:
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    fields = ["id", "created_at", "session_id", "question_id", "topic", "status", "score",
              "credited_score", "hints", "rating", "covered", "partial", "missing", "learner", "suggested_rating",
              "answer"]
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        verdicts = [kp["verdict"] for kp in row["key_points"]]  # type: ignore[attr-defined]
        covered, partial = verdicts.count("covered"), verdicts.count("partial")
        writer.writerow({**row, "covered": covered, "partial": partial,
                         "missing": len(verdicts) - covered - partial})


def render_progress(summary: ProgressSummary, console: Console) -> None:
    from rich.table import Table
    from rich.text import Text

    from dlgrader.practice import plural

    console.print(Text(f"{summary.questions_seen} of {plural(summary.questions_total, 'question')} practised "
                       f"({plural(summary.graded, 'graded answer')}). Due now: {summary.due_now}, due today: "
                       f"{summary.due_today}, never seen: {summary.new}.", style="bold"))
    console.print(f"Streak: {plural(summary.streak_days, 'day')} (practised on {plural(summary.practice_days, 'day')}"
                  f"; last {summary.last_practice or 'never'}).")
    render_history(summary, console)
    table = Table(title="Mastery per topic", expand=False)
    for name, justify in (("topic", "left"), ("seen", "right"), ("mastered", "right"), ("mastery", "right"),
                          ("avg score", "right"), ("due", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in summary.topics:
        table.add_row(t.topic, f"{t.seen}/{t.questions}", str(t.mastered), f"{t.mastery:.0f}%",
                      "—" if t.average_score is None else f"{t.average_score:.0f}", str(t.due))
    console.print(table)
    if summary.weakest_key_points:
        console.print(Text("Weakest key points", style="bold"))
        for w in summary.weakest_key_points:
            console.print(f"  ✘ {w.text}  ({w.question_id}: missed {w.missed}, partial {w.partial} "
                          f"of {w.attempts})")
    console.print(Text(f"Profile {summary.learner} · database: {summary.database}", style="dim"))


HISTORY_BAR = 30


def render_history(summary: ProgressSummary, console: Console) -> None:
    """One bar per day, oldest first: reviews that day (the red part failed: rated Again), mean score."""
    from datetime import date

    from rich.text import Text

    if not summary.history:
        return
    most = max((d.reviews for d in summary.history), default=0)
    console.print(Text(f"Reviews per day, last {len(summary.history)} days", style="bold"))
    for day in summary.history:
        label = date.fromisoformat(day.date).strftime("%a %d %b")
        row = Text(f"  {label}  ")
        if day.reviews:
            width = max(1, round(HISTORY_BAR * day.reviews / most))
            failed = min(width, round(width * day.again / day.reviews))
            row.append("█" * (width - failed), style="green")
            row.append("█" * failed, style="red")
            mean = f", mean score {day.mean_score:.0f}" if day.mean_score is not None else ""
            row.append(f" {day.reviews}" + (f" ({day.again} again{mean})" if day.again else
                                             (f" (mean score {day.mean_score:.0f})" if mean else "")),
                       style="dim")
        else:
            row.append("·", style="dim")
        console.print(row)


# ---------------------------------------------------------------- questions


@click.group("questions")
def questions_group() -> None:
    """Browse the question bank."""


@questions_group.command("list")
@click.option("--topic", help="Only this topic.")
@click.option("--difficulty", type=DIFFICULTIES)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def questions_list(topic: str | None, difficulty: str | None, as_json: bool) -> None:
    """List the questions (id, topic, difficulty, question)."""
    questions = _filtered(_bank(), topic, difficulty)
    if as_json:
        for q in questions:
            click.echo(json.dumps({"id": q.id, "topic": q.topic, "difficulty": q.difficulty,
                                   "question": q.question, "key_points": len(q.key_points)}))
        return
    console = _console()
    if not console.is_terminal:
        # Piped (`| grep`, `| cut -f1`): whole rows, tab-separated, never cut to a width; the count goes
        # to stderr so that stdout holds only rows.
        for q in questions:
            click.echo("\t".join(_one_line(v) for v in (q.id, q.topic, q.difficulty, q.question)))
        click.echo(f"{len(questions)} question(s)", err=True)
        return
    from rich.table import Table

    table = Table(expand=True)
    table.add_column("id", no_wrap=True)
    table.add_column("topic")
    table.add_column("difficulty")
    table.add_column("question", ratio=1)
    for q in questions:
        table.add_row(q.id, q.topic, q.difficulty, q.question)
    console.print(table)
    console.print(f"{len(questions)} question(s)")


def _one_line(value: str) -> str:
    return " ".join(value.split())  # a tab or newline inside a field would break the row


@questions_group.command("show")
@click.argument("question_id")
@click.option("--json", "as_json", is_flag=True, help="The whole bank record as JSON.")
def questions_show(question_id: str, as_json: bool) -> None:
    """Show one question with its reference answer, key points and sources."""
    bank = _bank()
    question = bank.get(question_id)
    if question is None:
        close = [s.question_id for s in bank.suggest_ids(question_id)]
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise click.ClickException(f"no question with id {question_id!r}.{hint}")
    _show(question, as_json, reference=True)


@questions_group.command("random")
@click.option("--topic", help="Only this topic.")
@click.option("--difficulty", type=DIFFICULTIES)
@click.option("--seed", type=int, help="Reproducible choice.")
@click.option("--reference", is_flag=True, help="Also show the reference answer and key points.")
@click.option("--json", "as_json", is_flag=True)
def questions_random(topic: str | None, difficulty: str | None, seed: int | None, reference: bool,
                     as_json: bool) -> None:
    """Show one random question."""
    question = random.Random(seed).choice(_filtered(_bank(), topic, difficulty))
    _show(question, as_json, reference=reference)


def _show(question: Question, as_json: bool, *, reference: bool) -> None:
    if as_json:
        data = question.model_dump() if reference else {
            "id": question.id, "topic": question.topic, "difficulty": question.difficulty,
            "question": question.question}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from rich.text import Text

    console = _console()
    console.print(Text(question.question, style="bold"))
    console.print(Text(f"id {question.id} · {question.topic} · {question.difficulty}", style="dim"))
    if question.aliases:
        console.print(Text("Also asked as: " + " | ".join(question.aliases), style="dim"))
    if not reference:
        return
    console.print(Text("\nReference answer", style="bold"))
    console.print(question.reference_answer)
    console.print(Text("\nKey points", style="bold"))
    for i, kp in enumerate(question.key_points, 1):
        mark = "" if kp.weight == "core" else " (supporting)"
        console.print(f"  {i}. {kp.text}{mark}")
        if kp.editorial:
            console.print(Text(f"     editorial correction: {kp.editorial.reason}", style="dim"))
    if question.misconceptions:
        console.print(Text("\nCommon misconceptions", style="bold"))
        for m in question.misconceptions:
            console.print(f"  ✗ {m.text}")
            console.print(Text(f"    → {m.correction}", style="green"))
    if question.sources:
        console.print(Text("\nSources", style="bold"))
        for s in question.sources:
            console.print(f"  {s.label}")


def register(cli: click.Group) -> None:
    cli.add_command(practice)
    cli.add_command(progress_group)
    cli.add_command(questions_group)
