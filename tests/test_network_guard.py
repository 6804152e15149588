import socket

import pytest


def test_a_test_cannot_reach_beyond_loopback() -> None:
    with socket.socket() as s, pytest.raises(RuntimeError, match=r"127\.0\.0\.1"):
        s.connect(("192.0.2.1", 80))
