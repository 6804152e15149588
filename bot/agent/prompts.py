"""The agent's instructions, read from ``prompts/*.txt`` (one file per purpose).

The decision tree's cause codes and checks are filled in from ``bot/tree.yaml`` at load time
(``{{causes}}``, ``{{checks}}``), so the text the model reads cannot drift from the tree the
engine walks. The folder is found at ``$OOS_PROMPTS_DIR``, beside the ``bot`` package (a source
checkout), or in the working directory (the Docker image's ``/app``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bot.tree import Tree

FILES = ("system", "decision_tree", "evidence_rules", "output_format", "followup")


class PromptsMissing(RuntimeError):
    """The prompt files cannot be found or read; the agent stays off and says why."""


def prompts_dir() -> Path | None:
    candidates = []
    if configured := os.environ.get("OOS_PROMPTS_DIR"):
        candidates.append(Path(configured))
    candidates += [Path(__file__).resolve().parents[2] / "prompts", Path.cwd() / "prompts"]
    return next((c for c in candidates if (c / "system.txt").is_file()), None)


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


def load_prompts(directory: Path | None = None) -> Prompts:
    folder = directory or prompts_dir()
    if folder is None:
        raise PromptsMissing(
            "the prompts/ folder was not found (set OOS_PROMPTS_DIR to the repository's prompts/)"
        )
    texts: dict[str, str] = {}
    for name in FILES:
        try:
            texts[name] = (folder / f"{name}.txt").read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PromptsMissing(f"cannot read {folder / name}.txt ({exc.strerror})") from None
    return Prompts(**texts)
