"""The agent's instructions, read from ``bot/prompts/*.txt`` (one file per purpose).

The decision tree's cause codes and checks are filled in from ``bot/tree.yaml`` at load time
(``{{causes}}``, ``{{checks}}``), so the text the model reads cannot drift from the tree the
engine walks. The files ship inside the package (read through ``importlib.resources``, so a
``pip install .`` or pipx install has them wherever it runs); ``$OOS_PROMPTS_DIR`` points at a
folder of your own instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from bot.tree import Tree

FILES = ("system", "decision_tree", "evidence_rules", "output_format", "followup")


class PromptsMissing(RuntimeError):
    """The prompt files cannot be found or read; the agent stays off and says why."""


def prompts_dir() -> Traversable | None:
    """``$OOS_PROMPTS_DIR`` when set (None if it holds no ``system.txt``), else the packaged
    ``bot/prompts``."""
    folder: Traversable
    if configured := os.environ.get("OOS_PROMPTS_DIR"):
        folder = Path(configured)
    else:
        folder = resources.files("bot").joinpath("prompts")
    return folder if folder.joinpath("system.txt").is_file() else None


@dataclass(frozen=True)
class Prompts:
    system: str
    decision_tree: str
    evidence_rules: str
    output_format: str
    followup: str

    def _tree(self, tree: Tree) -> str:
        causes = "\n".join(
            f"- {code} (layer {c.layer}, {tree.owners[c.owner]}): {c.says}"
            for code, c in tree.causes.items()
        )
        checks = "\n".join(f"- {c.id} (layer {c.layer}) → {c.cause}" for c in tree.checks)
        return self.decision_tree.replace("{{causes}}", causes).replace("{{checks}}", checks)

    def for_triage(self, tree: Tree) -> str:
        return "\n\n".join([self.system, self._tree(tree), self.evidence_rules, self.output_format])

    def for_followup(self, tree: Tree) -> str:
        return "\n\n".join(
            [self.system, self._tree(tree), self.evidence_rules, self.output_format, self.followup]
        )


def load_prompts(directory: Traversable | None = None) -> Prompts:
    folder = directory or prompts_dir()
    if folder is None:
        where = os.environ.get("OOS_PROMPTS_DIR")
        raise PromptsMissing(
            f"OOS_PROMPTS_DIR={where} holds no system.txt"
            if where
            else "the packaged prompts are missing (reinstall oos-triage, or set OOS_PROMPTS_DIR)"
        )
    texts: dict[str, str] = {}
    for name in FILES:
        try:
            texts[name] = folder.joinpath(f"{name}.txt").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PromptsMissing(f"cannot read {name}.txt in {folder} ({exc.strerror})") from None
    return Prompts(**texts)
