"""``dlgrader grade`` and ``dlgrader batch``."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _grader(calibration: Path | None = None):  # type: ignore[no-untyped-def]
    """The Grader for the current settings; ``--calibration FILE`` overrides DLGRADER_CALIBRATION."""
    from dlgrader.config import get_settings
    from dlgrader.service import default_grader

    settings = get_settings()
    if calibration is not None:
        settings = settings.model_copy(update={"calibration": calibration})
    return default_grader(settings)


_CALIBRATION_HELP = "A calibration.json from `dlgrader calibrate`: adds calibrated_score on your scale."


@click.command("grade")
@click.option("-q", "--question", help="The question, as free text (matched against the bank).")
@click.option("-i", "--question-id", help="The bank id of the question (see `dlgrader questions list`).")
@click.option("-a", "--answer", help="The answer to grade; '-' or omitted reads standard input.")
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.option("--reference", is_flag=True, help="Also show the reference answer.")
@click.option("--feedback", is_flag=True, help="Add LLM feedback (needs DLGRADER_LLM_BASE_URL).")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_CALIBRATION_HELP)
def grade(question: str | None, question_id: str | None, answer: str | None, as_json: bool,
          reference: bool, feedback: bool, calibration: Path | None) -> None:
    """Grade one answer against the question bank (offline)."""
    if not question and not question_id:
        raise click.UsageError("give --question TEXT or --question-id ID")
    if answer is None or answer == "-":
        if sys.stdin.isatty():
            click.echo("Type the answer, then Ctrl-D:", err=True)
        answer = sys.stdin.read()
    grader = _grader(calibration)
    result = grader.grade(answer, question_id=question_id, question=question)
    if feedback and result.status == "graded":
        from dlgrader.feedback_runner import attach_feedback

        attach_feedback(grader, [result], [answer])
    if as_json:
        click.echo(result.model_dump_json(indent=2, exclude_none=True))
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
def batch(input_path: Path, output: Path, columns: str | None, restart: bool, feedback: bool,
          dry_run: bool, calibration: Path | None, show_progress: bool | None) -> None:
    """Grade a JSONL or CSV file of answers into a JSONL file of results.

    Memory stays bounded whatever the file size. Re-running with the same OUTPUT resumes: answers
    already graded there are skipped (use --restart to start over).
    """
    from dlgrader.batch import Columns, count_records, run_batch

    cols = Columns.parse(columns)
    if dry_run:
        from dlgrader.feedback_runner import dry_run_estimate

        click.echo(dry_run_estimate(_grader(calibration), input_path, cols))
        return
    grader = _grader(calibration)
    hook = None
    if feedback:
        from dlgrader.feedback_runner import BatchFeedback

        hook = BatchFeedback(grader)
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
    if hook is not None:
        hook.close()
        click.echo(hook.line(), err=True)


def _rate_column():  # type: ignore[no-untyped-def]
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        """Answers graded per second (over rich's recent window)."""

        def render(self, task) -> Text:  # type: ignore[no-untyped-def]
            rate = f"{task.speed:,.1f} answers/s" if task.speed else "- answers/s"
            return Text(rate, style="progress.data.speed")

    return RateColumn()


def register(cli: click.Group) -> None:
    cli.add_command(grade)
    cli.add_command(batch)
