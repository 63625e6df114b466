"""Run ``dlgrader serve`` as a subprocess on a free loopback port (for the API tests and bench/load.py).

The server's output goes to a log file, so a chatty server never blocks on a full pipe, and tests can
read what it logged. Start-up is bounded in time; the server is always stopped again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def dlgrader_command() -> list[str]:
    """The installed ``dlgrader`` script of this interpreter's environment."""
    script = Path(sys.executable).parent / "dlgrader"
    if script.is_file():
        return [str(script)]
    found = shutil.which("dlgrader")
    if found:
        return [found]
    return [sys.executable, "-c", "from dlgrader.cli import main; main()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(overrides: dict[str, str], *, workdir: Path) -> dict[str, str]:
    """This process's environment without any DLGRADER_*/OPENAI_* values, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLGRADER_", "OPENAI_"))}
    env.update({"HF_HUB_OFFLINE": "1", "DLGRADER_DATA_DIR": str(workdir / "data")})
    env.update(overrides)
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful shutdown), then SIGKILL if it does not exit in time; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return int(self.process.returncode)


def _wait(server: Server, path: str, deadline: float) -> bool:
    """Poll ``path`` until it answers 200 (True) or the process exits or time runs out (False)."""
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline and server.process.poll() is None:
            try:
                if client.get(server.url + path).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    return False


def start(overrides: dict[str, str], *, workdir: Path, wait_for: str = "/readyz", timeout: float = 240.0,
          attempts: int = 3, args: Sequence[str] = ()) -> Server:
    """Start a server (``args``: more ``dlgrader serve`` options, e.g. ``--workers 2``) and wait (bounded)
    until ``wait_for`` answers 200; raises with its log otherwise."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(attempts):
        port = free_port()
        log_path = workdir / f"server-{port}.log"
        with log_path.open("wb") as log:
            # cwd=workdir: the server reads no .env file of the developer's checkout
            command = [*dlgrader_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
            process = subprocess.Popen(command, cwd=workdir, env=server_env(overrides, workdir=workdir),
                                       stdout=log, stderr=subprocess.STDOUT)
        server = Server(f"http://127.0.0.1:{port}", process, log_path)
        if _wait(server, wait_for, time.monotonic() + timeout):
            return server
        code = server.stop()
        text = server.log_text()
        if "address already in use" in text and attempt + 1 < attempts:
            continue  # another process took the port between free_port() and bind: try another
        raise RuntimeError(f"dlgrader serve did not answer {wait_for} (exit code {code}):\n{text[-4000:]}")
    raise AssertionError("unreachable")


@contextmanager
def running(overrides: dict[str, str], *, workdir: Path, wait_for: str = "/readyz",
            timeout: float = 240.0, args: Sequence[str] = ()) -> Iterator[Server]:
    """A started server for the duration of a ``with`` block, always stopped afterwards."""
    server = start(overrides, workdir=workdir, wait_for=wait_for, timeout=timeout, args=args)
    try:
        yield server
    finally:
        server.stop()
