"""``dlgrader cache stats`` and ``dlgrader cache clear``: the SQLite cache of LLM feedback replies."""

from __future__ import annotations

import json

import click


def _cache():
    from dlgrader.config import get_settings
    from dlgrader.feedback import FeedbackCache

    return FeedbackCache.in_data_dir(get_settings().resolved_data_dir())


@click.group("cache")
def cache() -> None:
    """Inspect or empty the cache of LLM feedback replies."""


@cache.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
def stats(as_json: bool) -> None:
    """Entries, hits served and tokens saved, by model and prompt version."""
    data = _cache().stats()
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    saved = data["tokens_saved"]
    click.echo(f"{data['path']}: {data['entries']} cached repl{'y' if data['entries'] == 1 else 'ies'}, "
               f"{data['bytes']:,} bytes; {data['hits']} hit(s) served, saving "
               f"{saved['prompt']:,} prompt + {saved['completion']:,} completion tokens")
    for group in data["by_model"]:
        click.echo(f"  {group['model'] or '(no model name)'}  prompt {group['prompt_version']}: "
                   f"{group['entries']}")


@cache.command("clear")
def clear() -> None:
    """Delete every cached reply (the next feedback run asks the model again)."""
    store = _cache()
    removed = store.clear()
    click.echo(f"removed {removed} cached repl{'y' if removed == 1 else 'ies'} from {store.path}")


def register(cli: click.Group) -> None:
    cli.add_command(cache)
