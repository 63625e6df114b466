"""A scripted OpenAI-compatible chat server for tests: real HTTP on 127.0.0.1, the real wire format.

Each request to ``POST /v1/chat/completions`` takes the next step of the script (or ``default`` when the
script is empty): a reply (fixed text, or a function of the request), an HTTP error with headers, or a
hang longer than the client's timeout. Every request body is recorded, with the peak of concurrent ones.

    with FakeLLMServer() as server:
        server.enqueue(Status(429, headers={"Retry-After": "0"}), Reply(judge()))
        ... DLGRADER_LLM_BASE_URL=server.url ...
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Body = dict[str, Any]


@dataclass
class Reply:
    """A 200 completion whose content is ``content`` (or ``content(request_body)``)."""

    content: str | Callable[[Body], str]
    prompt_tokens: int = 500
    completion_tokens: int = 120
    delay: float = 0.0


@dataclass
class Status:
    """An HTTP error status with an OpenAI-style error body."""

    code: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted failure"


@dataclass
class Hang:
    """Wait ``seconds`` before answering (longer than the client's timeout), then reply."""

    seconds: float
    then: Reply | None = None


Step = Reply | Status | Hang


class FakeLLMServer:
    """The server; use it as a context manager (it binds a free loopback port and stops after)."""

    def __init__(self, default: Step | None = None) -> None:
        self.script: deque[Step] = deque()
        self.default = default
        self.requests: list[Body] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def enqueue(self, *steps: Step) -> FakeLLMServer:
        self.script.extend(steps)
        return self

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next(self) -> Step:
        with self._lock:
            if self.script:
                return self.script.popleft()
        if self.default is None:
            return Status(500, message="the test script has no more steps")
        return self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server._lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(server._next(), body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, step: Step, body: Body) -> None:
                if isinstance(step, Hang):
                    server._stop.wait(step.seconds)
                    step = step.then or Reply("{}")
                if isinstance(step, Status):
                    self._send(step.code, {"error": {"message": step.message, "type": "scripted",
                                                     "code": step.code}}, step.headers)
                    return
                if step.delay:
                    server._stop.wait(step.delay)
                content = step.content(body) if callable(step.content) else step.content
                self._send(200, completion(content, body.get("model", "fake"), step.prompt_tokens,
                                           step.completion_tokens))

            def _send(self, code: int, payload: Body, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to answer

        return Handler


def completion(content: str, model: str, prompt_tokens: int, completion_tokens: int) -> Body:
    """An OpenAI chat.completion object."""
    return {
        "id": f"chatcmpl-fake-{time.time_ns()}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


# ---------------------------------------------------------------- reading the prompt a judge receives

_ANSWER = re.compile(r"<answer-([0-9a-f]+)>\n(.*)\n</answer-\1>", re.DOTALL)


def prompt_of(body: Body) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def answer_in(body: Body) -> str:
    """The (neutralised) answer between the data markers of the first user message."""
    match = _ANSWER.search(prompt_of(body))
    assert match, "no answer block in the prompt"
    return match.group(2)


def key_point_ids(body: Body) -> list[str]:
    return re.findall(r"^(K\d+): ", prompt_of(body), re.MULTILINE)


def excerpt_ids(body: Body) -> list[str]:
    return re.findall(r"^(R\d+): ", prompt_of(body), re.MULTILINE)


def excerpt_text(body: Body, ref: str) -> str:
    return re.search(rf"^{ref}: (.*)$", prompt_of(body), re.MULTILINE).group(1)  # type: ignore[union-attr]


def judge(verdicts: dict[str, str] | str = "covered", *, quote: Callable[[str, str], str] | str | None = None,
          strengths: list[Body] | None = None, gaps: list[Body] | None = None,
          suggestion: Body | None = None) -> Callable[[Body], str]:
    """A reply builder: given verdicts (one for all, or per key point id) and quotes, the JSON a judge sends.

    ``quote`` is a fixed string, or a function (answer, key point id) -> quote; by default the answer's
    first sentence. Statements default to ones that cite R1 with R1's own text (so they are supported).
    """
    def build(body: Body) -> str:
        answer = answer_in(body)
        ids = key_point_ids(body)
        labels = []
        for kp in ids:
            verdict = verdicts if isinstance(verdicts, str) else verdicts.get(kp, "missing")
            if verdict == "missing":
                text = ""
            elif callable(quote):
                text = quote(answer, kp)
            else:
                text = quote if quote is not None else re.split(r"(?<=[.!?])\s", answer.strip())[0]
            labels.append({"id": kp, "verdict": verdict, "quote": text})
        r1 = {"text": f"The reference says: {excerpt_text(body, 'R1')}", "refs": ["R1"]}
        return json.dumps({"key_points": labels, "strengths": strengths if strengths is not None else [r1],
                           "gaps": gaps if gaps is not None else [],
                           "suggestion": suggestion if suggestion is not None else r1})

    return build
