"""``BackgroundLoader``: builds the Grader once, in a thread, while the caller goes on.

The HTTP API answers /healthz and serves the bank while the model loads; the practice loop shows the first
question while it loads. Both use this one class.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Literal

from dlgrader.service import Grader

log = logging.getLogger(__name__)

LoadState = Literal["loading", "ready", "failed"]


class BackgroundLoader:
    """Runs ``factory`` once in a background thread and keeps its Grader, or the error it raised."""

    def __init__(self, factory: Callable[[], Grader]) -> None:
        self._factory = factory
        self._grader: Grader | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dlgrader-load", daemon=True)

    def start(self) -> BackgroundLoader:
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()
        return self

    def _run(self) -> None:
        # The model's native thread pools (onnxruntime, torch) are created here and inherit this thread's
        # signal mask. With Ctrl-C and SIGTERM blocked, the kernel can deliver them only to the main thread:
        # delivered to a pool thread, a Ctrl-C at the practice prompt never interrupted the main thread's
        # read, and the session hung until the next line of input.
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        started = time.perf_counter()
        try:
            self._grader = self._factory()
        except BaseException as exc:  # a thread's exception would vanish: keep it for state/get()
            self._error = exc
            log.error("the model and index could not be loaded: %s", exc)
            return
        log.info("ready: %d questions loaded in %.1f s", len(self._grader.bank),
                 time.perf_counter() - started, extra={"event": "ready"})

    @property
    def state(self) -> LoadState:
        if self._grader is not None:
            return "ready"
        return "failed" if self._error is not None else "loading"

    @property
    def error(self) -> str | None:
        """Why loading failed, in one line (None while loading or when ready)."""
        if self._error is None:
            return None
        from dlgrader.errors import DlgraderError

        if isinstance(self._error, DlgraderError):
            return str(self._error)
        return f"{type(self._error).__name__}: {self._error}"

    @property
    def grader(self) -> Grader | None:
        return self._grader

    def get(self) -> Grader:
        """The Grader, waiting for it if needed (in short slices, so Ctrl-C stays responsive); the
        loading error is raised here, in the caller's thread."""
        while self._thread.is_alive():
            self._thread.join(0.1)
        if self._error is not None:
            raise self._error
        if self._grader is None:
            raise RuntimeError("BackgroundLoader.get() called before start()")
        return self._grader

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until loading has ended, whatever its outcome; True when it has.

        A daemon thread still inside native code (ONNX Runtime, FAISS) when the interpreter exits makes the
        C++ runtime abort the process ("terminate called without an active exception"), so whoever exits
        while a load runs waits for it first. Loading takes about a second; Ctrl-C meanwhile is absorbed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._thread.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            try:
                self._thread.join(0.1)
            except KeyboardInterrupt:
                continue
        return True
