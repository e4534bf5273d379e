"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 (stdlib ``http.server``)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from verl_difficulty.engines import EngineError, GenerationRequest, SamplingSettings, build_engine, completion_seed
from verl_difficulty.scorers.base import row_images, row_messages, sample_id
from verl_difficulty.scorers.masks import apply_mask


class FakeServer:
    """A chat-completions server: answers with the seed and image count it received; scripted failures."""

    def __init__(self):
        self.bodies, self.headers = [], []
        self.script = []  # per request: None (answer), an HTTP status, "sleep" or "no-choices"
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.bodies.append(body)
                    server.headers.append(dict(self.headers))
                    action = server.script.pop(0) if server.script else None
                if action == "sleep":
                    time.sleep(0.5)
                if isinstance(action, int):
                    payload = json.dumps({"error": {"message": f"scripted {action}"}}).encode()
                    self.send_response(action)
                elif action == "no-choices":
                    payload = json.dumps({"object": "error"}).encode()
                    self.send_response(200)
                else:
                    images = sum(
                        1
                        for m in body["messages"]
                        if isinstance(m["content"], list)
                        for p in m["content"]
                        if p["type"] == "image_url"
                    )
                    text = f"seed={body.get('seed')} images={images} t={body['temperature']}"
                    payload = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
                    payload = payload.encode()
                    self.send_response(200)
                try:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def _request(row, n=2, seed=11, **sampling):
    images = [apply_mask(img, 0.3, seed=5) for img in row_images(row)]
    return GenerationRequest(
        sample_id(row), row_messages(row), images, SamplingSettings(**sampling), n=n, seed=seed, meta={"ratio": 0.3}
    )


def test_request_format_and_parsing(server, bundled_rows, monkeypatch):
    monkeypatch.setenv("PISM_TEST_KEY", "sk-test-123")
    row = bundled_rows["mathv"][0]
    engine = build_engine(
        "openai", "qwen-vl", base_url=server.url, api_key_env="PISM_TEST_KEY", concurrency=4, extra_body={"x": 1}
    )
    req = _request(row, n=3, temperature=0.7, top_p=0.9, top_k=20, max_new_tokens=64, stop=("</answer>",))
    text_only = GenerationRequest("t/1", [{"role": "user", "content": "2+2?"}], [], SamplingSettings(), n=1, seed=4)
    out = engine.generate([req, text_only])
    assert out[0] == [f"seed={completion_seed(11, j)} images=1 t=0.7" for j in range(3)]
    assert out[1] == [f"seed={completion_seed(4, 0)} images=0 t=1.0"]
    assert len(server.bodies) == 4
    body = next(b for b in server.bodies if b["seed"] == completion_seed(11, 0))
    assert body["model"] == "qwen-vl" and body["n"] == 1 and body["max_tokens"] == 64
    assert body["top_p"] == 0.9 and body["top_k"] == 20 and body["stop"] == ["</answer>"] and body["x"] == 1
    system, user = body["messages"]
    assert system == {"role": "system", "content": row["prompt"][0]["content"]}
    kinds = [p["type"] for p in user["content"]]
    assert kinds.count("image_url") == 1 and "text" in kinds
    # the image arrives losslessly: the masked pixels, exactly
    url = next(p["image_url"]["url"] for p in user["content"] if p["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert np.array_equal(np.asarray(sent.convert("RGB")), np.asarray(req.images[0]))
    # placeholder position is kept: text before the image stays before it
    content = row["prompt"][1]["content"]
    before = content.split("<image>")[0]
    if before:
        assert user["content"][0] == {"type": "text", "text": before}
    assert all(h.get("Authorization") == "Bearer sk-test-123" for h in server.headers)
    d = engine.describe()
    assert d["base_url"] == server.url and "sk-test" not in json.dumps(d)
    text_only_body = next(b for b in server.bodies if b["seed"] == completion_seed(4, 0))
    assert "top_k" not in text_only_body and "stop" not in text_only_body


def test_retries_then_errors(server, bundled_rows):
    row = bundled_rows["mmocr_words"][0]
    engine = build_engine("openai", "m", base_url=server.url, max_retries=2, backoff_s=0.01, concurrency=1)
    server.script = [503, 429]  # two transient failures, then an answer
    assert engine.generate([_request(row, n=1)])[0][0].startswith("seed=")
    assert len(server.bodies) == 3
    server.script = [500, 500, 500]
    with pytest.raises(EngineError, match=r"failed after 3 tries \(HTTP 500: .*scripted 500"):
        engine.generate([_request(row, n=1)])
    server.script = [400]
    with pytest.raises(EngineError, match="answered HTTP 400"):
        engine.generate([_request(row, n=1)])
    server.script = ["no-choices"]
    with pytest.raises(EngineError, match="without choices"):
        engine.generate([_request(row, n=1)])
    slow = build_engine("openai", "m", base_url=server.url, max_retries=1, backoff_s=0.01, timeout_s=0.1)
    server.script = ["sleep", "sleep"]
    with pytest.raises(EngineError, match="failed after 2 tries"):
        slow.generate([_request(row, n=1)])


def test_unreachable_server_and_settings():
    with pytest.raises(EngineError, match="engine.concurrency"):
        build_engine("openai", "m", concurrency=0)
    with pytest.raises(EngineError, match="engine.base_url"):
        build_engine("openai", "m", base_url="localhost:8000")
    with pytest.raises(EngineError, match="model"):
        build_engine("openai", None)
    # a port nobody listens on (bound, then closed): connection refused, retried, then a clear error
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    engine = build_engine("openai", "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_s=0.01)
    req = GenerationRequest("a", [{"role": "user", "content": "hi"}], [], SamplingSettings(), n=1, seed=1)
    with pytest.raises(EngineError, match=f"127.0.0.1:{port}.*failed after 2 tries"):
        engine.generate([req])
