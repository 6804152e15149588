"""The package as a user installs it: a wheel built from the source, installed into a folder of
its own and run from another directory, carries everything it reads at run time (the decision
tree, the prompts, the scenario library, the Slack manifest), so the agent is on after
``pip install .`` or pipx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import sys
sys.path.insert(0, {site!r})
import bot
assert bot.__file__.startswith({site!r}), bot.__file__
from bot.agent.setup import open_agent
agent, off = open_agent(environ={{"OPENAI_API_KEY": "sk-test-not-used"}})
assert agent is not None, off
from bot.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the source (the checkout stays clean), installed with --target."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("bot", "tools"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    built = subprocess.run(
        [*pip, "wheel", *offline, "-w", str(tmp / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if built.returncode != 0 and "bdist_wheel" in built.stderr + built.stdout:
        pytest.skip("this setuptools cannot build wheels offline (pip install 'setuptools>=70.1')")
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp / "dist").glob("oos_triage-*.whl")
    site = tmp / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return site


def test_the_wheel_carries_the_files_read_at_run_time(installed: Path) -> None:
    for path in (
        "bot/tree.yaml",
        "bot/prompts/system.txt",
        "bot/prompts/output_format.txt",
        "bot/slack/manifest.yaml",
        "tools/sandbox/scenarios/l3_flow_suspended.yaml",
    ):
        assert (installed / path).is_file(), path
    wheels = list(installed.parent.joinpath("dist").glob("*.whl"))
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


@pytest.mark.parametrize(
    ("argv", "expect"),
    [
        (["triage", "SKU-3101", "--sandbox", "--no-save", "--no-agent"], "L3.flow_suspended"),
        (["manifest", "--socket-mode"], "socket_mode_enabled: true"),
        (["--version"], "oos 0.1.0"),
    ],
)
def test_the_installed_package_runs_from_any_directory(
    installed: Path, tmp_path: Path, argv: list[str], expect: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OOS_PROMPTS_DIR")}
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(site=str(installed)), *argv],
        cwd=elsewhere,
        env={**env, "OOS_DB": str(tmp_path / "t.db")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout
