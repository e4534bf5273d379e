"""Generation through an OpenAI-compatible ``/v1/chat/completions`` server (``vllm serve``, SGLang, ...).

Every completion is one HTTP request with ``n = 1`` and ``seed = completion_seed(request.seed, j)``, so a
server that honours ``seed`` (vLLM and SGLang do) gives each completion independently of the others. Images
travel as base64 data URLs in ``image_url`` parts, in placeholder order (PNG by default: lossless, so masks
arrive exactly as drawn). Requests run on a thread pool; transient failures (connection errors, timeouts,
HTTP 408 / 409 / 429 / 5xx) are retried with exponential backoff; other HTTP errors fail at once with the
server's message.

Settings:

``base_url``      server root ending in ``/v1`` (default: ``$OPENAI_BASE_URL``, else ``http://127.0.0.1:8000/v1``)
``api_key_env``   environment variable holding the API key (default ``OPENAI_API_KEY``; unset: no auth header)
``concurrency``   parallel HTTP requests (default 16)
``timeout_s``     per HTTP request (default 600)
``max_retries``   retries of a transient failure (default 4); ``backoff_s`` first wait, doubled each time (1.0)
``image_format``  ``png`` (default) or ``jpeg``
``send_seed``     send ``seed`` (default true; false for servers that reject it: then not deterministic)
``extra_body``    extra JSON fields for every request, e.g. ``{"repetition_penalty": 1.0}``

``model`` is the served model name. ``top_k`` is sent only when set (vLLM and SGLang accept it; OpenAI does not).
"""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from verl_difficulty.engines.base import IMAGE_PLACEHOLDER, Engine, EngineError, GenerationRequest, completion_seed

RETRY_STATUS = (408, 409, 429, 500, 502, 503, 504)
IMAGE_FORMATS = ("png", "jpeg")


def image_data_url(image, fmt: str = "png") -> str:
    """``data:image/png;base64,...`` of a PIL image (JPEG at quality 95 for ``fmt="jpeg"``)."""
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=95)
    else:
        image.save(buf, format="PNG")
    return f"data:image/{fmt};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def openai_messages(messages: Sequence[dict], images: Sequence[Any], image_format: str = "png") -> list[dict]:
    """verl chat messages + images → OpenAI chat messages; ``<image>`` placeholders become ``image_url`` parts."""
    remaining = list(images)
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str) and IMAGE_PLACEHOLDER not in content:
            out.append({"role": m["role"], "content": content})
            continue
        parts: list[dict] = []
        if isinstance(content, str):
            for i, piece in enumerate(content.split(IMAGE_PLACEHOLDER)):
                if i > 0:
                    parts.append(
                        {"type": "image_url", "image_url": {"url": image_data_url(remaining.pop(0), image_format)}}
                    )
                if piece:
                    parts.append({"type": "text", "text": piece})
        else:
            for part in content or []:
                if part.get("type") == "image":
                    parts.append(
                        {"type": "image_url", "image_url": {"url": image_data_url(remaining.pop(0), image_format)}}
                    )
                else:
                    parts.append(dict(part))
        out.append({"role": m["role"], "content": parts})
    return out


def build_payload(
    model: str, request: GenerationRequest, j: int, messages: list[dict], *, send_seed: bool = True, extra=None
) -> dict:
    """The JSON body of completion ``j`` of ``request``."""
    s = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "n": 1,
        "max_tokens": s.max_new_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
    }
    if s.top_k != -1:
        body["top_k"] = s.top_k
    if s.stop:
        body["stop"] = list(s.stop)
    if send_seed:
        body["seed"] = completion_seed(request.seed, j)
    body.update(extra or {})
    return body


def parse_response(data: Any) -> str:
    """The completion text of a chat-completions response body (``EngineError`` when it has none)."""
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as e:
        raise EngineError(f"openai: response without choices[0].message: {json.dumps(data)[:300]}") from e
    content = message.get("content") if isinstance(message, dict) else None
    if content is None:
        return ""
    if isinstance(content, list):  # some servers return typed parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


class OpenAIEngine(Engine):
    """An OpenAI-compatible chat-completions client (see the module docstring for the settings)."""

    name = "openai"

    def __init__(
        self,
        model: str | None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout_s: float = 600.0,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        image_format: str = "png",
        send_seed: bool = True,
        extra_body: dict | None = None,
    ):
        if not model:
            raise EngineError("model: the openai engine needs the served model name (--model)")
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
            raise EngineError(f"engine.concurrency: expected a positive integer, got {concurrency!r}")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise EngineError(f"engine.max_retries: expected an integer >= 0, got {max_retries!r}")
        for name, value in (("timeout_s", timeout_s), ("backoff_s", backoff_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise EngineError(f"engine.{name}: expected a number >= 0, got {value!r}")
        if image_format not in IMAGE_FORMATS:
            raise EngineError(f"engine.image_format: expected one of {IMAGE_FORMATS}, got {image_format!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise EngineError(f"engine.extra_body: expected a mapping, got {extra_body!r}")
        self.model = str(model)
        base = base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1"
        if not base.startswith(("http://", "https://")):
            raise EngineError(f"engine.base_url: expected an http(s) URL, got {base!r}")
        self.base_url = base.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.api_key_env = api_key_env
        self.concurrency = concurrency
        self.timeout_s = float(timeout_s)
        self.max_retries = max_retries
        self.backoff_s = float(backoff_s)
        self.image_format = image_format
        self.send_seed = bool(send_seed)
        self.deterministic = self.send_seed
        self.extra_body = dict(extra_body or {})

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post(self, body: dict, what: str) -> str:
        data = json.dumps(body).encode("utf-8")
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), 60.0))
            req = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    payload = json.loads(resp.read().decode("utf-8"))
                return parse_response(payload)
            except urllib.error.HTTPError as e:
                detail = e.read().decode("utf-8", "replace")[:500] if e.fp is not None else ""
                last_error = f"HTTP {e.code}: {detail}"
                if e.code not in RETRY_STATUS:
                    raise EngineError(f"openai: {what}: {self.url} answered {last_error}") from e
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
                reason = getattr(e, "reason", e)
                last_error = f"{type(e).__name__}: {reason}"
            except json.JSONDecodeError as e:
                last_error = f"invalid JSON in the response ({e})"
        raise EngineError(f"openai: {what}: {self.url} failed after {self.max_retries + 1} tries ({last_error})")

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        jobs = []
        for i, req in enumerate(requests):
            messages = openai_messages(req.messages, req.images, self.image_format)
            for j in range(req.n):
                body = build_payload(self.model, req, j, messages, send_seed=self.send_seed, extra=self.extra_body)
                jobs.append((i, j, body, f"sample {req.sample_id} completion {j}"))
        outputs: list[list[str]] = [[""] * r.n for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(jobs)))) as pool:
            futures = [(i, j, pool.submit(self._post, body, what)) for i, j, body, what in jobs]
            error = None
            for i, j, fut in futures:
                try:
                    outputs[i][j] = fut.result()
                except EngineError as e:
                    error = error or e
                    for _, _, other in futures:
                        other.cancel()
            if error is not None:
                raise error
        return outputs

    def describe(self) -> dict:
        return {
            "engine": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "image_format": self.image_format,
            "seeded": self.send_seed,
            "extra_body": self.extra_body,
            "deterministic": self.deterministic,
        }
