"""``dlgrader grade`` and ``dlgrader batch``."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dlgrader.config import Settings
    from dlgrader.service import Grader


def _settings(calibration: Path | None = None, *, fast: bool = False) -> Settings:
    """The current settings; ``--calibration FILE`` overrides DLGRADER_CALIBRATION and ``--fast`` turns the
    verifier off (DLGRADER_VERIFIER=off)."""
    from dlgrader.config import get_settings

    settings = get_settings()
    if calibration is not None:
        settings = settings.model_copy(update={"calibration": calibration})
    if fast:
        settings = settings.model_copy(update={"verifier": "off"})
    return settings


def _grader(calibration: Path | None = None, *, fast: bool = False) -> Grader:
    """The Grader for the current settings (see ``_settings``)."""
    from dlgrader.service import default_grader

    return default_grader(_settings(calibration, fast=fast))


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
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="JSONL results, one per input record, in order (--engine ray: a folder of Parquet parts "
                   "when it ends in .parquet).")
@click.option("--columns", help="Rename input fields, e.g. 'answer=response,label=score,question_id=qid'.")
@click.option("--restart", is_flag=True, help="Overwrite OUTPUT instead of resuming it.")
@click.option("--feedback", is_flag=True, help="Add LLM feedback to each graded answer (local engine).")
@click.option("--dry-run", is_flag=True,
              help="With --feedback: estimate LLM calls and tokens, spend nothing.")
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_CALIBRATION_HELP)
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="Progress bar with rate and ETA on stderr (default: when stderr is a terminal).")
@click.option("--fast", is_flag=True, help=_FAST_HELP)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: this process; ray: a pool of Ray actors (pip install 'dlgrader[ray]'), JSONL, CSV "
                   "or Parquet in.")
@click.option("--address", help="--engine ray: join this Ray cluster (default: start a local instance).")
@click.option("--actors", type=click.IntRange(1), default=1, show_default=True,
              help="--engine ray: graders in the pool, each with the machine's cores divided among them.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True,
              help="--engine ray: answers per actor call.")
def batch(input_path: str, output: Path, columns: str | None, restart: bool, feedback: bool,
          dry_run: bool, calibration: Path | None, show_progress: bool | None, fast: bool, engine: str,
          address: str | None, actors: int, batch_size: int) -> None:
    """Grade a JSONL or CSV file of answers into a JSONL file of results.

    Memory stays bounded whatever the file size. Re-running with the same OUTPUT resumes: answers
    already graded there are skipped (use --restart to start over).
    """
    from dlgrader.batch import Columns

    cols = Columns.parse(columns)
    if engine == "ray":
        if feedback:
            raise click.UsageError("--feedback runs with --engine local")
        _batch_ray(input_path, output, cols, restart=restart, settings=_settings(calibration, fast=fast),
                   address=address, actors=actors, batch_size=batch_size, show_progress=show_progress)
        return
    path = Path(input_path)
    if not path.is_file():
        raise click.BadParameter(f"{input_path!r} is not a file (a folder or an s3:// path needs --engine ray)",
                                 param_hint="INPUT")
    if dry_run:
        from dlgrader.config import get_settings
        from dlgrader.feedback.setup import dry_run_estimate

        click.echo(dry_run_estimate(_grader(calibration, fast=True), path, cols, get_settings()))
        return
    from dlgrader.batch import run_batch
    from dlgrader.records import count_records

    grader = _grader(calibration, fast=fast)
    # Each chunk gets its feedback before it is written (the Grader's one error policy applies).
    hook = grader.add_feedback if feedback else None
    total = count_records(path)
    with _progress_bar(show_progress) as (bar, task):
        bar.update(task, total=total)
        stats = run_batch(grader, path, output, columns=cols, resume=not restart,
                          progress=lambda n: bar.advance(task, n), on_chunk=hook,
                          on_start=lambda done: bar.reset(task, total=total, completed=done))
    _stats_line(stats, output)
    if feedback:
        click.echo(_feedback_line(grader), err=True)
        grader.close()


def _batch_ray(input_path: str, output: Path, cols, *, restart: bool, settings: Settings,
               address: str | None, actors: int, batch_size: int, show_progress: bool | None) -> None:
    from dlgrader.errors import InputError
    from dlgrader.ray_engine import run_batch_ray  # imports Ray only when it runs
    from dlgrader.records import count_records

    local = Path(input_path)
    total = count_records(local) if local.is_file() and local.suffix.lower() != ".parquet" else None
    try:
        with _progress_bar(show_progress) as (bar, task):
            bar.update(task, total=total)
            stats, timing = run_batch_ray(settings, input_path, output, columns=cols, resume=not restart,
                                          address=address, actors=actors, batch_size=batch_size,
                                          progress=lambda n: bar.advance(task, n),
                                          on_start=lambda done: bar.reset(task, total=total, completed=done))
    except InputError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:  # a Ray task or actor failed: one line, and the chunks written are kept
        if type(exc).__module__.split(".")[0] != "ray":
            raise
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"the Ray run failed ({type(exc).__name__}: {last}); the results written "
                                   f"so far are kept in {output}: rerun the same command to resume") from exc
    _stats_line(stats, output)
    click.echo(f"ray: started in {timing['startup_s']:.1f} s, graded in {timing['grading_s']:.1f} s "
               f"with {actors} actor(s)", err=True)


def _stats_line(stats, output: Path) -> None:
    click.echo(f"{stats.total} written to {output} ({stats.graded} graded, {stats.unknown} unknown question, "
               f"{stats.invalid} invalid); {stats.skipped} already done", err=True)


@contextmanager
def _progress_bar(show_progress: bool | None):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TimeRemainingColumn

    console = Console(stderr=True)
    show = console.is_terminal if show_progress is None else show_progress
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TaskProgressColumn(), _rate_column(), TimeRemainingColumn(), console=console,
                  disable=not show, transient=False) as bar:
        yield bar, bar.add_task("grading", total=None)


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
