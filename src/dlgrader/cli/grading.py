"""``dlgrader grade`` and ``dlgrader batch``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dlgrader.service import Grader


def _grader(calibration: Path | None = None, *, fast: bool = False) -> Grader:
    """The Grader for the current settings; ``--calibration FILE`` overrides DLGRADER_CALIBRATION and
    ``--fast`` turns the verifier off (DLGRADER_VERIFIER=off)."""
    from dlgrader.config import get_settings
    from dlgrader.service import default_grader

    settings = get_settings()
    if calibration is not None:
        settings = settings.model_copy(update={"calibration": calibration})
    if fast:
        settings = settings.model_copy(update={"verifier": "off"})
    return default_grader(settings)


_CALIBRATION_HELP = "A calibration.json from `dlgrader calibrate`: adds calibrated_score on your scale."
_FAST_HELP = ("Embedding similarity only, without the verifier (DLGRADER_VERIFIER=off): faster, and blind to "
              "answers that reverse a fact.")


@click.command("grade")
@click.option("-q", "--question", help="The question, as free text (matched against the bank).")
@click.option("-i", "--question-id", help="The bank id of the question (see `dlgrader questions list`).")
@click.option("-a", "--answer", help="The answer to grade; '-' or omitted reads standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--reference", is_flag=True, help="Also show the reference answer.")
@click.option("--feedback", is_flag=True, help="Add LLM feedback (needs DLGRADER_LLM_BASE_URL).")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_CALIBRATION_HELP)
@click.option("--fast", is_flag=True, help=_FAST_HELP)
def grade(question: str | None, question_id: str | None, answer: str | None, as_json: bool,
          reference: bool, feedback: bool, calibration: Path | None, fast: bool) -> None:
    """Grade one answer against the question bank (offline)."""
    if not question and not question_id:
        raise click.UsageError("give --question TEXT or --question-id ID")
    question = _argument_text(question, "--question") if question else question
    question_id = _argument_text(question_id, "--question-id") if question_id else question_id
    if answer is None or answer == "-":
        if sys.stdin.isatty():
            click.echo("Type the answer, then Ctrl-D:", err=True)
        answer = _stdin_text()
    else:
        answer = _argument_text(answer, "--answer")
    grader = _grader(calibration, fast=fast)
    result = grader.grade(answer, question_id=question_id, question=question, feedback=feedback)
    if as_json:
        # As bytes: the JSON is UTF-8 whatever the locale's encoding of stdout.
        click.echo(result.model_dump_json(indent=2, exclude_none=True).encode("utf-8"))
        return
    from rich.console import Console

    ref = grader.bank.by_id[result.question_id].reference_answer if reference and result.question_id in grader.bank.by_id else None  # noqa: E501
    render_console = Console(highlight=False)
    from dlgrader.render import render_result

    render_result(result, render_console, show_reference=ref)
    if result.calibrated_score is not None:
        render_console.print(f"Calibrated score: {result.calibrated_score:g} on your scale "
                             f"({result.calibrated_scale})")
    if result.feedback:
        from dlgrader.render import render_feedback

        render_feedback(result.feedback, render_console)


def _argument_text(value: str, option: str) -> str:
    """A command-line value with the bytes that were not text in the locale's encoding made U+FFFD.

    Python hands such bytes over as lone surrogates (surrogateescape); they cannot be encoded or printed,
    so they are replaced here, with a warning, rather than crash the grading or the output later."""
    from dlgrader.records import without_surrogates

    clean = without_surrogates(value)
    if clean != value:
        _warn_replaced(option, sum(a != b for a, b in zip(value, clean, strict=True)))
    return clean


def _stdin_text() -> str:
    """Standard input read as bytes and decoded as UTF-8 (a byte-order mark dropped); bytes that are not
    UTF-8 become U+FFFD, with a warning, so one stray byte does not stop an answer being graded."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text-only stdin (an embedding program's): already decoded
        return _argument_text(sys.stdin.read(), "the answer on standard input")
    data: bytes = stream.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", errors="replace")
        _warn_replaced("the answer on standard input", text.count("\ufffd") - data.count("\ufffd".encode()))
        return text


def _warn_replaced(where: str, count: int) -> None:
    click.echo(f"warning: {where} is not valid UTF-8 text: {count} invalid byte sequence(s) replaced by "
               "U+FFFD", err=True)


@click.command("batch")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL results, one per input record, in order.")
@click.option("--columns", help="Rename input fields, e.g. 'answer=response,label=score,question_id=qid'.")
@click.option("--restart", is_flag=True, help="Overwrite OUTPUT instead of resuming it.")
@click.option("--feedback", is_flag=True, help="Add LLM feedback to each graded answer.")
@click.option("--dry-run", is_flag=True,
              help="With --feedback: estimate LLM calls and tokens, spend nothing.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_CALIBRATION_HELP)
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar with rate and ETA on stderr (default: when stderr is a terminal).")
@click.option("--fast", is_flag=True, help=_FAST_HELP)
def batch(input_path: Path, output: Path, columns: str | None, restart: bool, feedback: bool,
          dry_run: bool, calibration: Path | None, show_progress: bool | None, fast: bool) -> None:
    """Grade a JSONL or CSV file of answers into a JSONL file of results.

    Memory stays bounded whatever the file size. Re-running with the same OUTPUT resumes: answers
    already graded there are skipped (use --restart to start over).
    """
    from dlgrader.batch import Columns, run_batch
    from dlgrader.records import count_records

    cols = Columns.parse(columns)
    if dry_run:
        from dlgrader.config import get_settings
        from dlgrader.feedback.setup import dry_run_estimate

        click.echo(dry_run_estimate(_grader(calibration, fast=True), input_path, cols, get_settings()))
        return
    grader = _grader(calibration, fast=fast)
    # Each chunk gets its feedback before it is written (the Grader's one error policy applies).
    hook = grader.add_feedback if feedback else None
    total = count_records(input_path)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    console = Console(stderr=True)
    show = console.is_terminal if show_progress is None else show_progress
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TaskProgressColumn(), _rate_column(), TimeRemainingColumn(), console=console,
                  disable=not show, transient=False) as bar:
        task = bar.add_task("grading", total=total)
        stats = run_batch(grader, input_path, output, columns=cols, resume=not restart,
                          progress=lambda n: bar.advance(task, n), on_chunk=hook,
                          on_start=lambda done: bar.reset(task, total=total, completed=done))
    click.echo(f"{stats.total} written to {output} ({stats.graded} graded, {stats.unknown} unknown question, "
               f"{stats.invalid} invalid); {stats.skipped} already done", err=True)
    if feedback:
        click.echo(_feedback_line(grader), err=True)
        grader.close()


def _rate_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Answers graded per second (over rich's recent window)."""

        def render(self, task) -> Text:
            rate = f"{task.speed:,.1f} answers/s" if task.speed else "- answers/s"
            return Text(rate, style="progress.data.speed")

    return RateColumn()


def register(cli: click.Group) -> None:
    cli.add_command(grade)
    cli.add_command(batch)


def _feedback_line(grader: Grader) -> str:
    """The batch's LLM token totals (with the cost when prices are set), or why there was no feedback."""
    if grader.feedback is None:
        return f"LLM feedback: {grader.feedback_off_reason}"
    from dlgrader.config import get_settings
    from dlgrader.feedback.setup import prices

    return grader.feedback.usage.line(prices(get_settings()))
