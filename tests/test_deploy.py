"""The deployment files agree with the code: fly.toml gives a stopping machine at least the
time the server's own shutdown may take, runs one machine on one volume, and delivers the stack
config where the image looks for it; the image installs from the lock file. When a Docker engine
is available, the image is built and run once."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.monitor.posts import MonitorCommands
from bot.monitor.schedule import Scheduler
from bot.slack.runner import TriageRunner

ROOT = Path(__file__).resolve().parents[1]


def fly() -> dict[str, Any]:
    return tomllib.loads((ROOT / "fly.toml").read_text(encoding="utf-8"))


def _default(function: Any, name: str = "grace") -> float:
    return float(inspect.signature(function).parameters[name].default)


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return float(match.group(1))


def test_kill_timeout_covers_the_longest_graceful_stop() -> None:
    # serve() stops in turn: running triages (grace, then as long again for the cancelled ones),
    # the scheduler (its grace), the monitoring commands (grace, then as long again).
    longest = (
        2 * _default(TriageRunner.shutdown)
        + _default(Scheduler.run)
        + 2 * _default(MonitorCommands.shutdown)
    )
    config = fly()
    assert config["kill_signal"] == "SIGTERM"
    assert _seconds(config["kill_timeout"]) >= longest


def test_one_machine_on_one_volume_with_the_config_where_the_image_reads_it() -> None:
    config = fly()
    (mount,) = config["mounts"]
    assert mount["destination"] == "/data" and config["env"]["OOS_DB"].startswith("/data/")
    (delivered,) = config["files"]
    assert delivered["guest_path"] == config["env"]["OOS_CONFIG"]
    assert delivered["local_path"] == "stack.toml"
    service = config["http_service"]
    assert service["min_machines_running"] == 1 and service["auto_stop_machines"] == "off"
    assert [c["path"] for c in service["checks"]] == ["/healthz"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--ha=false" in readme


def test_the_image_installs_from_the_lock_file_and_runs_as_a_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "--require-hashes -r /tmp/requirements.lock" in dockerfile
    assert "HEALTHCHECK" in dockerfile and "/healthz" in dockerfile
    assert "setpriv --reuid=oos" in (ROOT / "deploy" / "entrypoint.sh").read_text()
    pinned = {
        line.split("==")[0].lower()
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[<>=!\[ ]", d)[0].lower() for d in project["dependencies"]}
    assert wanted <= pinned, f"not in requirements.lock: {sorted(wanted - pinned)}"


def _docker_engine() -> str | None:
    """Why the image cannot be built here, or None when a Docker engine answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker command on this machine"
    probe = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        return f"no Docker engine answers ({(probe.stderr or probe.stdout).strip()[:120]})"
    return None


def test_the_image_builds_and_runs() -> None:
    why = _docker_engine()
    if why is not None:
        pytest.skip(f"image smoke test skipped: {why}")
    tag = "oos-triage:smoke-test"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    try:
        ran = subprocess.run(
            ["docker", "run", "--rm", tag, "oos", "triage", "SKU-3101", "--sandbox", "--no-save"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert "L3.flow_suspended" in ran.stdout
        user = subprocess.run(
            ["docker", "run", "--rm", tag, "id", "-un"], capture_output=True, text=True, check=True
        )
        assert user.stdout.strip() == "oos"
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False)
