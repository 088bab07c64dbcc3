"""Steering a fake Ollama that runs in another process, over its HTTP control API (/_fake/...)."""

import json

from tests.processes import http

CHAT_PATHS = ("/api/chat", "/v1/chat/completions")


class FakeOllamaControl:
    def __init__(self, url: str):
        self.url = url

    def reset(self) -> None:
        status, body = http("POST", f"{self.url}/_fake/reset")
        assert status == 200, body

    def configure(self, **knobs) -> dict:
        status, body = http("POST", f"{self.url}/_fake/config", knobs)
        assert status == 200, body
        return json.loads(body)

    def fail_next(self, kind: str, **options) -> None:
        status, body = http("POST", f"{self.url}/_fake/fail_next", {"kind": kind, **options})
        assert status == 200, body

    def chat_requests(self) -> list[dict]:
        status, body = http("GET", f"{self.url}/_fake/requests", timeout=60)
        assert status == 200, body
        return [r for r in json.loads(body) if r["path"] in CHAT_PATHS]
