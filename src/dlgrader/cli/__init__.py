"""The ``dlgrader`` command line. Each command family lives in its own module; this one only wires them.

Domain errors become one-line messages here, at the edge: users never see a traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from dlgrader import __version__
from dlgrader.errors import DlgraderError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dlgrader")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """Grade free-text answers to deep-learning interview questions, offline."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register() -> None:
    # Imported here, not at the top, so each module can import cli from this package.
    from dlgrader.cli import corpus, grading, index

    for module in (corpus, grading, index):
        module.register(cli)
    for name in ("serve", "practice", "report", "cache", "verifier"):
        try:
            module = __import__(f"dlgrader.cli.{name}", fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != f"dlgrader.cli.{name}":
                raise
            continue
        module.register(cli)


_register()


def main() -> None:
    """Console-script entry point: run the CLI, turning domain errors into clean exits."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DlgraderError as exc:
        click.secho(f"Error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:  # `dlgrader ... | head`
        sys.exit(0)
