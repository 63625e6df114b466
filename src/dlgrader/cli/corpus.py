"""``dlgrader corpus ...`` and ``dlgrader index build``."""

from __future__ import annotations

import json
from pathlib import Path

import click


def _corpus_dir() -> Path:
    from dlgrader.config import DEFAULT_CORPUS

    return DEFAULT_CORPUS.parent


@click.group("corpus")
def corpus_group() -> None:
    """Build, validate and describe the question bank."""


@corpus_group.command("extract")
@click.option("--corpus-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with sources/ (default: the project's corpus/).")
def extract(corpus_dir: Path | None) -> None:
    """Cut each source article into draft question/answer blocks (corpus/draft/)."""
    from dlgrader.corpus.build import extract_drafts

    drafts = extract_drafts(corpus_dir or _corpus_dir())
    for document, blocks in drafts.items():
        click.echo(f"{document}: {len(blocks)} blocks")


@corpus_group.command("build")
@click.option("--corpus-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def build(corpus_dir: Path | None) -> None:
    """Build corpus/questions.jsonl from the rubric files and the curated facts, then validate it.

    Fails, listing every problem, when a curated fact is neither cited nor dropped, or when two key points
    of one entry look like the same fact without a ``distinct`` decision."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.build import build_bank
    from dlgrader.corpus.validate import validate_bank_file
    from dlgrader.embedding import load_embedder

    settings = get_settings()
    root = corpus_dir or _corpus_dir()
    embedder = load_embedder(model=settings.model, backend=settings.backend, threads=settings.threads)
    questions, excluded = build_bank(root, embedder)
    count, problems = validate_bank_file(root / "questions.jsonl")
    merged = sum(1 for q in questions if len(q.documents) > 1)
    click.echo(f"{len(questions)} questions ({merged} merged from several articles), {len(excluded)} excluded")
    if problems:
        raise click.ClickException("the built bank does not validate:\n" + "\n".join(problems))


@corpus_group.command("validate")
@click.argument("bank", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sources", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of source documents (default: sources/ beside the bank).")
def validate(bank: Path | None, sources: Path | None) -> None:
    """Check a bank: schema, unique ids, verbatim excerpts, key-point support, no empty fields."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.validate import validate_bank_file

    path = bank or get_settings().corpus
    if not path.is_file():
        raise click.ClickException(f"no question bank at {path}")
    count, problems = validate_bank_file(path, sources)
    if problems:
        for problem in problems:
            click.secho(f"{path}: {problem}", fg="red", err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {path}")
    click.echo(f"{path}: {count} questions, all checks passed")


@corpus_group.command("stats")
@click.argument("bank", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(bank: Path | None, as_json: bool) -> None:
    """Questions per article, topic and difficulty; key points (core, supporting, editorial) and
    misconceptions per question (--json lists them for every entry)."""
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank
    from dlgrader.corpus.stats import bank_stats, load_excluded

    path = bank or get_settings().corpus
    loaded = load_bank(path)
    data = bank_stats(loaded, load_excluded(path.parent / "excluded.jsonl"))
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{data['questions']} questions, {data['merged_questions']} merged, "
               f"{data['key_points']} key points {data['key_points_per_question']} "
               f"({data['core_key_points']} core, {data['supporting_key_points']} supporting, "
               f"{data['editorial_key_points']} editorial), {data['misconceptions']} misconceptions "
               f"{data['misconceptions_per_question']}, {data['excluded']} excluded  (hash {data['content_hash']})")
    for section in ("per_article", "per_topic", "per_difficulty", "excluded_per_article"):
        click.echo(f"\n{section.replace('_', ' ')}:")
        for key, value in data[section].items():  # type: ignore[attr-defined]
            click.echo(f"  {key:<40} {value}")


def register(cli: click.Group) -> None:
    cli.add_command(corpus_group)
