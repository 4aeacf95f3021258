"""A loopback HTTP server that answers like an LLM provider (Azure OpenAI, DeepSeek, Ollama).

Scripted: each request takes the next :class:`Reply` (the last one repeats). Requests are
recorded (method, path, query, headers, JSON body) for assertions. Multi-threaded, so keep-alive
clients and concurrent analysts work. Used by the tests and by ``bench/consensus.py``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

OPINION_JSON = json.dumps(
    {"signal": "buy", "confidence": 0.72, "horizon_hours": 48, "rationale": "Momentum is up and RSI is not stretched."}
)


@dataclass
class Reply:
    """One scripted answer: HTTP status, JSON body (or raw text), headers, delay before answering."""

    status: int = 200
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


def openai_completion(
    content: str | None = OPINION_JSON,
    *,
    refusal: str | None = None,
    finish_reason: str = "stop",
    reasoning: str | None = None,
    model: str = "gpt-4o-2024-08-06",
    prompt_tokens: int = 812,
    completion_tokens: int = 64,
    reasoning_tokens: int | None = None,
) -> dict[str, Any]:
    """Return a chat.completion body as OpenAI / Azure / DeepSeek send it.

    ``reasoning_tokens`` adds ``usage.completion_tokens_details.reasoning_tokens``, as DeepSeek's
    API reference (POST /chat/completions, response ``usage``) and OpenAI's reasoning models send it.
    """
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if reasoning_tokens is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return {
        "id": "chatcmpl-loopback-1",
        "object": "chat.completion",
        "created": 1_790_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}],
        "usage": usage,
        "system_fingerprint": "fp_loopback",
    }


def openai_error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """Return an error body in the OpenAI / Azure shape."""
    return {"error": {"message": message, "type": "error", "param": None, "code": code or str(status)}}


def ollama_chat(
    content: str = OPINION_JSON, *, model: str = "llama3.1:8b", done_reason: str = "stop"
) -> dict[str, Any]:
    """Return a non-streaming ``/api/chat`` body as Ollama sends it."""
    return {
        "model": model,
        "created_at": "2026-11-20T10:00:00.000000Z",
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": done_reason,
        "total_duration": 1_200_000_000,
        "load_duration": 10_000_000,
        "prompt_eval_count": 640,
        "prompt_eval_duration": 400_000_000,
        "eval_count": 52,
        "eval_duration": 700_000_000,
    }


class FakeLLMServer:
    """Start with ``with FakeLLMServer([Reply(...)]) as server: server.url``."""

    def __init__(self, replies: list[Reply] | None = None):
        self.replies = list(replies or [Reply(body=openai_completion())])
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._index = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                parts = urlsplit(self.path)
                reply = server._next(
                    Recorded(
                        "POST", parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, body
                    )
                )
                if reply.delay:
                    time.sleep(reply.delay)
                payload = (reply.raw if reply.raw is not None else json.dumps(reply.body)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def _next(self, recorded: Recorded) -> Reply:
        with self._lock:
            self.requests.append(recorded)
            reply = self.replies[min(self._index, len(self.replies) - 1)]
            self._index += 1
            return reply

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
