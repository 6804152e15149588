"""``oos serve`` as a process: the startup token check and every later call go to SLACK_API_URL,
a wrong token fails at once with one clear line, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.slack.conftest import CAUSE, SIGNING_SECRET, SKU, sign
from tests.slack.fake_slack import BOT_TOKEN, FakeSlack

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def serve(fake_slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    procs: list[asyncio.subprocess.Process] = []

    async def start(token: str = BOT_TOKEN) -> tuple[asyncio.subprocess.Process, int]:
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "SLACK_BOT_TOKEN": token,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake_slack.api_url,
            "PORT": str(port),
            "OOS_HOST": "127.0.0.1",
            "OOS_DB": str(tmp_path / "serve.db"),
            # A suite run under libfaketime moves the server's clock with the test's.
            **{
                k: v for k, v in os.environ.items() if k.startswith("FAKETIME") or k == "LD_PRELOAD"
            },
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.slack.server",
            "serve",
            "--sandbox",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        procs.append(proc)
        return proc, port

    yield start
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def wait_healthy(proc: asyncio.subprocess.Process, port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(500):  # bounded: ~10 s
            if proc.returncode is not None:
                raise AssertionError(f"oos serve exited with {proc.returncode}")
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.02)
    raise AssertionError("oos serve never became healthy")


async def test_serve_checks_the_token_at_slack_api_url_then_serves(
    serve: Callable[..., object], fake_slack: FakeSlack
) -> None:
    proc, port = await serve()  # type: ignore[misc]
    await wait_healthy(proc, port)
    assert fake_slack.methods()[0] == "auth.test", "the startup check went to SLACK_API_URL"

    body = urllib.parse.urlencode(
        {
            "command": "/oos",
            "text": SKU,
            "user_id": "U1",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": fake_slack.response_url(),
        }
    )
    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
        async with session.post(
            f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers
        ) as resp:
            assert resp.status == 200
    await fake_slack.wait_for(
        lambda: any(CAUSE in m.text and m.thread_ts for m in fake_slack.messages.values()),
        "the verdict",
    )

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_serve_with_a_wrong_token_fails_at_once_without_echoing_it(
    serve: Callable[..., object], fake_slack: FakeSlack
) -> None:
    proc, _port = await serve(token="xoxb-wrong-token-value")  # type: ignore[misc]
    _out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2
    message = err.decode()
    assert "Slack refused SLACK_BOT_TOKEN" in message and "invalid_auth" in message
    assert "wrong-token-value" not in message
    assert fake_slack.methods() == ["auth.test"]
