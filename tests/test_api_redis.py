"""``dlgrader serve --workers 2`` with the shared Redis rate-limit store: one limit across the workers.

A real redis-server on a free loopback port (skipped, saying why, where it is not installed).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from apiserver import running

pytestmark = pytest.mark.slow


def _access_pids(log: str, path: str) -> set[int]:
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return {e["pid"] for e in entries if e["logger"].endswith(".access") and e.get("path") == path}


def test_two_workers_share_one_rate_limit(grader, session_index_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import redisserver

    redisserver.require_redis()
    with redisserver.running(tmp_path / "redis") as redis_server:
        env = {"DLGRADER_INDEX_DIR": str(session_index_dir), "DLGRADER_RATE_LIMIT_PER_MINUTE": "1",
               "DLGRADER_RATE_LIMIT_STORE": redis_server.url}
        with running(env, workdir=tmp_path / "api", args=["--workers", "2"]) as server:
            statuses: list[int] = []
            pids: set[int] = set()
            # each request on a new connection, until both workers have answered some (bounded)
            while len(statuses) < 80 and (len(pids) < 2 or len(statuses) < 6):
                with httpx.Client(base_url=server.url, timeout=60) as client:
                    statuses.append(client.get("/v1/topics").status_code)
                pids = _access_pids(server.log_text(), "/v1/topics")
    assert len(pids) == 2, "one worker answered every request: the test shows nothing"
    # one request a minute for this client, whichever worker answers (per-process counting allows two)
    assert len([s for s in statuses if s != 429]) == 1, statuses
