"""``dlgrader index build``: the FAISS index of the bank, rebuilt only when it is not current."""

from __future__ import annotations

import click


@click.group("index")
def index_group() -> None:
    """Manage the FAISS index."""


@index_group.command("build")
@click.option("--force", is_flag=True, help="Rebuild even when the index is current.")
def index_build(force: bool) -> None:
    """Embed the bank and write the index (DLGRADER_INDEX_DIR), unless it is already current.

    Current means built from this bank with this model and backend (the manifest says so); `make run`
    calls this on every start, so a current index is left alone instead of being rebuilt (~10 s).
    """
    from dlgrader.config import get_settings
    from dlgrader.corpus.loader import load_bank
    from dlgrader.embedding import load_embedder
    from dlgrader.index import build_index, stale_reason

    settings = get_settings()
    bank = load_bank(settings.corpus)
    embedder = load_embedder(model=settings.model, backend=settings.backend, threads=settings.threads)
    directory = settings.resolved_index_dir()
    reason = "--force" if force else stale_reason(directory, bank, embedder)
    if reason is None:
        click.echo(f"index in {directory} is current ({len(bank)} questions, {embedder.model_id}, "
                   f"{embedder.backend}); nothing to do (--force rebuilds it)")
        return
    index = build_index(bank, embedder)
    try:
        index.save(directory)
    except OSError as exc:
        raise click.ClickException(f"cannot write the index to {directory}: {exc.strerror or exc}") from exc
    m = index.manifest
    click.echo(f"index written to {directory} ({reason}): {m['counts']} ({m['model']}, {m['backend']}, "
               f"{m['build_seconds']} s)")


def register(cli: click.Group) -> None:
    cli.add_command(index_group)
