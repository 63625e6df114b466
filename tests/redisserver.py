"""Run a real ``redis-server`` on a free loopback port in a temp dir, for the shared rate-limit store tests.

Nothing is persisted (no RDB, no AOF); start-up is bounded in time and the server is always stopped again.
Tests skip with a visible reason where ``redis-server`` (Debian package ``redis-server``) or the ``redis``
client is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from apiserver import free_port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def require_redis() -> str:
    """The path of ``redis-server``; skips the test (saying why) when it or the client is missing."""
    pytest.importorskip("redis", reason="the redis client is not installed (pip install 'dlgrader[redis]')")
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does it)")
    return found


def start(workdir: Path, *, port: int | None = None, timeout: float = 20.0) -> RedisServer:
    """A started redis-server answering PING (bounded wait); raises with its log otherwise."""
    import redis

    binary = require_redis()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = workdir / f"redis-{port}.log"
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir), "--save", "",
               "--appendonly", "no", "--logfile", str(log_path), "--daemonize", "no"]
    server = RedisServer(port, subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.STDOUT), log_path)
    deadline = time.monotonic() + timeout
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        while time.monotonic() < deadline and server.process.poll() is None:
            try:
                if client.ping():
                    return server
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
    finally:
        client.close()
    server.stop()
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    raise RuntimeError(f"redis-server did not answer on port {port}:\n{text[-2000:]}")


@contextmanager
def running(workdir: Path, *, port: int | None = None) -> Iterator[RedisServer]:
    server = start(workdir, port=port)
    try:
        yield server
    finally:
        server.stop()
