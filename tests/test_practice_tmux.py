"""`dlgrader practice` in a real terminal (tmux): what a person sees, colours included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
DLGRADER = str(Path(sys.executable).with_name("dlgrader"))
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (apt-get install tmux)")


class Pane:
    """A detached tmux session on a private server socket, 140x50, running one command."""

    def __init__(self, command: list[str]) -> None:
        self.socket = f"dlgrader-test-{uuid.uuid4().hex[:8]}"
        env = [f"{k}={os.environ[k]}" for k in ("DLGRADER_DATA_DIR", "DLGRADER_INDEX_DIR")]
        self._tmux("new-session", "-d", "-s", "practice", "-x", "140", "-y", "50",
                   "env", *env, "HF_HUB_OFFLINE=1", "TERM=xterm-256color", "COLORTERM=truecolor", *command)
        self._tmux("set-option", "-t", "practice", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        return subprocess.run([str(TMUX), "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=30).stdout

    def screen(self, colours: bool = False) -> str:
        """The whole scroll-back and screen, as the terminal shows it (with escape codes if ``colours``)."""
        escapes = ["-e"] if colours else []
        return self._tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "practice", *escapes)

    def type(self, *lines: str) -> None:
        for line in lines:
            if line:
                self._tmux("send-keys", "-t", "practice", "-l", line)
            self._tmux("send-keys", "-t", "practice", "Enter")

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "practice", *keys)

    def wait_for(self, check: Callable[[str], bool], what: str, limit: float = 120.0) -> str:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"never saw {what}; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([str(TMUX), "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def pane_factory() -> Iterator[Callable[[list[str]], Pane]]:
    panes: list[Pane] = []

    def make(command: list[str]) -> Pane:
        panes.append(Pane(command))
        return panes[-1]

    yield make
    for pane in panes:
        pane.close()


def test_a_person_sees_the_question_score_bar_and_key_point_marks(grader, pane_factory):  # type: ignore[no-untyped-def]
    question = next(q for q in grader.bank.questions if q.topic == "cnn")
    answer = ". ".join(question.reference_answer.split(". ")[:2]).rstrip(".") + "."
    pane = pane_factory([DLGRADER, "practice", "--topic", "cnn", "--count", "2"])
    pane.wait_for(lambda s: question.question in s and "> " in s, "the first question and its prompt")
    screen = pane.screen()
    assert "Question 1 of 2" in screen and "cnn · " in screen and "finish with an empty line" in screen

    pane.type(answer, "")
    screen = pane.wait_for(lambda s: "Enter: accept" in s, "the graded result and the rating prompt")
    assert "Score █" in screen and "/100" in screen and "grade " in screen
    assert "✔" in screen  # key points covered by the reference sentences
    assert "✘" in screen or "◐" in screen  # two sentences do not cover everything
    assert "«" in screen  # evidence, trimmed to the words that match
    assert "Suggested rating: " in screen and question.question in screen  # the question is still on screen
    assert "next review in" in screen
    coloured = pane.screen(colours=True)
    assert "\x1b[" in coloured  # a terminal gets colour, unlike a pipe

    pane.type("ref")
    pane.wait_for(lambda s: "Reference answer:" in s, "the reference answer")
    pane.type("")
    pane.wait_for(lambda s: "Question 2 of 2" in s, "the second question")
    pane.type("hint")
    pane.wait_for(lambda s: "Hint:" in s, "a hint")
    pane.keys("C-c")
    screen = pane.wait_for(lambda s: "Interrupted (Ctrl-C)" in s, "a clean end on Ctrl-C")
    assert "Traceback" not in screen and "1 graded" in screen and "1 hint" in screen
