"""Test-wide guards: no test reaches beyond 127.0.0.1, and no test writes to the user's store."""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools import redact

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _loopback_only(address: Any) -> None:
    if isinstance(address, tuple):
        host = address[0]
        try:
            if ipaddress.ip_address(host).is_loopback:
                return
        except ValueError:
            if host == "localhost":
                return
        raise RuntimeError(f"a test tried to reach {host}: tests may only use 127.0.0.1")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _loopback_only(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _loopback_only(address)
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Whatever a command under test puts in ``os.environ`` (``oos discover --sandbox`` sets its
    sandbox credentials there) is gone before the next test."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


@pytest.fixture(autouse=True)
def _no_secrets_from_other_tests() -> Iterator[None]:
    """The secret registry is process-wide, like the environment: a test's fake credentials
    ("wrong", "bad-token") must not be masked in the next test's text."""
    redact.SECRETS.clear()
    yield
    redact.SECRETS.clear()


@pytest.fixture(autouse=True)
def _no_model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own OPENAI_API_KEY must not turn the agent on in tests that do not ask."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Whatever a command under test exports (``--sandbox`` puts its emulators' credentials in
    the environment) is gone before the next test, which may check that nothing leaked."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def _private_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OOS_DB", str(tmp_path / "triage.db"))
    yield


_SHOPIFY_SCHEMA_FILE = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "specs"
    / "shopify"
    / "admin_schema_2025-01.json.gz"
)


@pytest.fixture(scope="session")
def shopify_schema_file() -> Path:
    """The published Shopify Admin GraphQL 2025-01 schema beside the repo; skips when absent."""
    if not _SHOPIFY_SCHEMA_FILE.is_file():
        pytest.skip(f"the Shopify Admin schema is not beside the repo ({_SHOPIFY_SCHEMA_FILE})")
    return _SHOPIFY_SCHEMA_FILE


@pytest.fixture(scope="session")
def shopify_admin_schema(shopify_schema_file: Path) -> Any:
    """That schema built by graphql-core, ready to validate documents against."""
    # graphql-core is a dev dependency: the contract must not be skipped silently without it.
    from graphql import build_client_schema

    with gzip.open(shopify_schema_file, "rt", encoding="utf-8") as f:
        built = build_client_schema(json.load(f)["data"])
    # The published schema fails graphql-core's own self-check on a deprecation rule that has
    # nothing to do with queries (see specs/README.md); skip that self-check.
    built._validation_errors = []
    return built
