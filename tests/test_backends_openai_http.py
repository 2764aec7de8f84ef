"""The OpenAI backend's HTTP behaviour against a local server that misbehaves on purpose:
retries with backoff, fail-fast errors, topping up short replies, the concurrency limit."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fdpo.errors import FdpoError
from fdpo.sampling.backends import load_backend
from fdpo.sampling.backends.openai import RequestError


class Script:
    """What the server answers: a queue of (status, headers) failures, then successes."""

    def __init__(self, failures=(), max_choices=None, delay=0.0):
        self.failures = list(failures)
        self.max_choices = max_choices
        self.delay = delay
        self.requests: list[tuple[str, dict]] = []
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()


def make_handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append((self.path, body))
                script.in_flight += 1
                script.peak = max(script.peak, script.in_flight)
                failure = script.failures.pop(0) if script.failures else None
            time.sleep(script.delay)
            with script.lock:
                script.in_flight -= 1
            if failure:
                status, headers = failure
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(b'{"error": {"message": "scripted"}}')
                return
            n = min(body["n"], script.max_choices or body["n"])
            text = body.get("prompt") or body["messages"][0]["content"]
            choices = [
                {"index": i, "finish_reason": "stop", **(
                    {"message": {"role": "assistant", "content": f"{text}|{body.get('seed')}|{i}"}}
                    if "messages" in body else {"text": f"{text}|{body.get('seed')}|{i}"}
                )}
                for i in range(n)
            ]
            data = json.dumps({"choices": choices, "usage": {"completion_tokens": 5 * n}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@pytest.fixture
def serve():
    servers = []

    def start(script: Script) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(script))
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def backend(url: str, **kw):
    return load_backend("served-model", "openai", base_url=url, backoff=0.01, **kw)


def test_transient_errors_are_retried_then_succeed(serve):
    script = Script(failures=[(503, {}), (429, {"Retry-After": "0"}), (500, {})])
    out = backend(serve(script)).generate(["p"], n=2, temperature=1.0, max_tokens=5, seed=7)
    assert [g.text for g in out[0]] == ["p|7|0", "p|7|1"]
    assert len(script.requests) == 4
    assert all(path == "/v1/completions" for path, _ in script.requests)


def test_retries_are_bounded(serve):
    script = Script(failures=[(503, {})] * 10)
    with pytest.raises(RequestError, match="503"):
        backend(serve(script), retries=2).generate(["p"], n=1, temperature=1.0, max_tokens=5)
    assert len(script.requests) == 3


def test_client_errors_are_not_retried(serve):
    script = Script(failures=[(400, {})])
    with pytest.raises(RequestError, match="400"):
        backend(serve(script)).generate(["p"], n=1, temperature=1.0, max_tokens=5)
    assert len(script.requests) == 1
    with pytest.raises(FdpoError, match="404"):
        backend(serve(Script(failures=[(404, {})]))).generate(["p"], n=1, temperature=1.0, max_tokens=5)


def test_unreachable_server_is_retried_then_reported():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(RequestError, match="127.0.0.1"):
        backend(f"http://127.0.0.1:{port}/v1", retries=1).generate(["p"], n=1, temperature=1.0, max_tokens=5)


def test_short_replies_are_topped_up_with_fresh_seeds(serve):
    script = Script(max_choices=1)
    out = backend(serve(script)).generate(["p"], n=3, temperature=1.0, max_tokens=5, seed=10, stop=["\n"])
    assert [g.text for g in out[0]] == ["p|10|0", "p|11|0", "p|12|0"]
    assert [body["n"] for _, body in script.requests] == [3, 2, 1]
    assert all(body["stop"] == ["\n"] for _, body in script.requests)


def test_only_four_stops_reach_the_server_and_all_cut_the_text(serve):
    script = Script()
    out = backend(serve(script)).generate(["pp"], n=2, temperature=1.0, max_tokens=5, seed=3, stop=["w", "x", "y", "z", "|"])
    assert script.requests[0][1]["stop"] == ["w", "x", "y", "z"]
    assert [(g.text, g.finish_reason) for g in out[0]] == [("pp", "stop")] * 2
    assert sum(g.num_tokens for g in out[0]) == 10  # tokens spent, including those past the cut


def test_chat_endpoint_greedy_and_token_shares(serve):
    script = Script()
    out = backend(serve(script)).generate(["hello", "bye"], n=3, temperature=0, max_tokens=5, chat=True)
    assert [[g.text for g in gens] for gens in out] == [["hello|None|0"] * 3, ["bye|None|0"] * 3]
    assert [body["n"] for _, body in script.requests] == [1, 1]  # greedy: one choice, repeated
    assert all(path == "/v1/chat/completions" for path, _ in script.requests)
    assert out[0][0].num_tokens == 5


def test_concurrency_is_limited(serve):
    script = Script(delay=0.2)
    out = backend(serve(script), concurrency=2).generate([f"p{i}" for i in range(6)], n=1, temperature=1.0, max_tokens=5, seed=0)
    assert [gens[0].text for gens in out] == [f"p{i}|{i}|0" for i in range(6)]  # in order, seed + i
    assert script.peak == 2


def test_missing_api_key_variable_is_a_user_error(monkeypatch):
    monkeypatch.delenv("FDPO_TEST_KEY", raising=False)
    with pytest.raises(FdpoError, match="FDPO_TEST_KEY"):
        load_backend("m", "openai", api_key_env="FDPO_TEST_KEY")
