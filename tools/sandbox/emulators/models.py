"""An OpenAI-compatible ``GET /models`` in-process, for ``oos check-config --sandbox``: the list
object (``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``) for
the sandbox key, 401 with OpenAI's error body for any other."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

SANDBOX_BASE_URL = "https://models.sandbox.invalid/v1"
SANDBOX_API_KEY = "sk-oos-sandbox"


class ModelsEmulator(httpx.AsyncBaseTransport):
    def __init__(self, models: Sequence[str], key: str = SANDBOX_API_KEY) -> None:
        self.models = list(models)
        self.key = key

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            error = {"message": "Incorrect API key provided.", "type": "invalid_request_error"}
            return httpx.Response(
                401, json={"error": {**error, "param": None, "code": "invalid_api_key"}}
            )
        if request.method != "GET" or not request.url.path.endswith("/models"):
            return httpx.Response(
                404, json={"error": {"message": "not emulated", "type": "invalid_request_error"}}
            )
        data = [
            {"id": m, "object": "model", "created": 1_715_367_049, "owned_by": "system"}
            for m in self.models
        ]
        return httpx.Response(200, json={"object": "list", "data": data})
