"""``oos serve`` on a port another process holds: one line naming the address, exit 2."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.compose import sandbox_target
from bot.slack.server import serve
from bot.store import TriageStore
from tests.slack.conftest import loopback_settings
from tests.slack.fake_slack import FakeSlack


async def test_a_port_in_use_is_one_line(
    fake_slack: FakeSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = loopback_settings(fake_slack, port=port)
        store = TriageStore(tmp_path / "t.db")
        try:
            code = await serve(settings, store=store, resolve=sandbox_target)
        finally:
            store.close()
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and f"cannot listen on 127.0.0.1:{port}" in err
    assert "--port" in err and "Traceback" not in err
