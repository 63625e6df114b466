"""``dlgrader serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import json

import click


def _banner(host: str, port: int, with_keys: bool) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}" if ":" not in shown else f"http://[{shown}]:{port}"
    answer = "Dropout randomly switches off a fraction of the neurons at each training step."
    body = json.dumps({"question_id": "dropout", "answer": answer})
    auth = " -H 'Authorization: Bearer <your key>'" if with_keys else ""
    return (f"dlgrader API on {url} (docs: {url}/docs). Loading the model and index: "
            f"{url}/readyz answers 200 when ready.\nFirst request:\n"
            f"  curl -s {url}/v1/grade -H 'Content-Type: application/json'{auth} -d '{body}'")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes; each loads its own model, and rate limits count per process.")
@click.option("--log-level", default=None, help="Log level (default: DLGRADER_LOG_LEVEL, INFO).")
@click.option("--graceful-timeout", default=30.0, show_default=True, type=click.FloatRange(0),
              help="Seconds in-flight requests get to finish on SIGTERM/Ctrl-C.")
def serve(host: str, port: int, workers: int, log_level: str | None, graceful_timeout: float) -> None:
    """Serve the grading API (FastAPI + uvicorn); settings come from DLGRADER_* variables and .env."""
    from pydantic import ValidationError

    from dlgrader.config import get_settings

    try:
        settings = get_settings()
    except ValidationError as exc:
        raise click.ClickException(f"invalid DLGRADER_* setting:\n{exc}") from exc
    if not settings.corpus.is_file():
        raise click.ClickException(f"question bank not found: {settings.corpus} (DLGRADER_CORPUS)")
    level = (log_level or settings.log_level).upper()
    import logging

    if not isinstance(logging.getLevelName(level), int):
        raise click.BadParameter(f"unknown log level {level!r}", param_hint="--log-level")
    import uvicorn

    from dlgrader.api.logs import log_config

    click.echo(_banner(host, port, bool(settings.api_key_set)), err=True)
    uvicorn.run("dlgrader.api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=log_config(level), access_log=False, server_header=False,
                timeout_graceful_shutdown=round(graceful_timeout),
                # a worker starting up on a busy machine can miss uvicorn's default 5 s health check
                timeout_worker_healthcheck=60)


def register(cli: click.Group) -> None:
    cli.add_command(serve)
