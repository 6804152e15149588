"""``oos init``: a few questions (which vendors, their account names, the environment variables
that will hold the credentials) and a commented ``stack.toml`` to start from.

Questions go to stderr and answers come from stdin, one line each; an empty line (or the end
of input) takes the default shown in brackets, so ``oos init < /dev/null`` writes the most
common stack with the default variable names. The file is a partial config: ``oos discover``
fills in the flow ids, scripts and locations, ``oos check-config`` proves it.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bot.config import ConfigError
from bot.toml_out import value
from tools.registry import LAYERS
from tools.vendors import SPECS

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_NONE = "none"


@dataclass(frozen=True)
class Question:
    option: str
    ask: str
    default: str
    check: Callable[[str], bool] = lambda _v: True
    hint: str = ""


# Per vendor: what must be known before anything can be read (everything else is discovered).
QUESTIONS: dict[str, tuple[Question, ...]] = {
    "shopify": (
        Question(
            "shop",
            "Shopify shop name (NAME in NAME.myshopify.com)",
            "your-shop",
            lambda v: bool(re.fullmatch(r"[a-z0-9][a-z0-9-]*", v)),
            "lower-case letters, digits and '-'",
        ),
    ),
    "amazon": (
        Question("region", "SP-API region (na, eu, fe)", "na", lambda v: v in ("na", "eu", "fe")),
        Question(
            "seller_id",
            "Amazon merchant token (Seller Central → Settings → Account Info)",
            "FILL-IN-MERCHANT-TOKEN",
        ),
    ),
    "celigo": (Question("region", "Celigo region (us, eu)", "us", lambda v: v in ("us", "eu")),),
    "netsuite": (
        Question(
            "account_id",
            "NetSuite account id (e.g. 1234567, or 1234567_SB1 for a sandbox)",
            "1234567",
            lambda v: bool(re.fullmatch(r"[A-Za-z0-9_]+", v)),
            "letters, digits and '_'",
        ),
        Question("timezone", "the integration user's time zone (IANA name)", "UTC"),
    ),
}
_COMMENTS = {
    "storefront": "# The storefront: its Admin API token is read from the variable named below.",
    "marketplaces": "# A marketplace channel (one [[marketplaces]] table each).",
    "middleware": "# The connector: `oos discover` lists its flows and guesses each one's hop.",
    "erp": "# The ERP: `oos discover` lists its locations and script deployments.",
}


class Asker:
    """Questions on ``prompts``, answers from ``answers``; empty or end of input: the default."""

    def __init__(self, answers: IO[str], prompts: IO[str]) -> None:
        self.answers = answers
        self.prompts = prompts

    def __call__(
        self, ask: str, default: str, check: Callable[[str], bool] = lambda _v: True, hint: str = ""
    ) -> str:
        for _ in range(3):
            self.prompts.write(f"{ask} [{default}]: ")
            self.prompts.flush()
            line = self.answers.readline()
            answer = line.strip() or default
            if not line:
                self.prompts.write("\n")
            if check(answer):
                return answer
            self.prompts.write(f"  {answer!r} will not do{': ' + hint if hint else ''}\n")
        raise ConfigError(f"{ask}: no usable answer after three tries")


def _vendor(ask: Asker, layer: str, question: str, default: str, optional: bool) -> str | None:
    known = sorted(v for v in LAYERS[layer] if v in SPECS)
    choices = [*known, _NONE] if optional else known
    answer = ask(f"{question} ({', '.join(choices)})", default, lambda v: v in choices)
    return None if answer == _NONE else answer


def _system(ask: Asker, vendor: str) -> dict[str, Any]:
    options = {q.option: ask(q.ask, q.default, q.check, q.hint) for q in QUESTIONS.get(vendor, ())}
    credentials = {
        role: ask(
            f"  {vendor} {role}: name of the environment variable holding it",
            default,
            lambda v: bool(_ENV_NAME.match(v)),
            "an environment variable NAME like SHOPIFY_ADMIN_TOKEN (never the secret itself)",
        )
        for role, default in SPECS[vendor].credentials.items()
    }
    return {"vendor": vendor, "credentials": credentials, "options": options}


def interview(ask: Asker) -> dict[str, Any]:
    """The answers as a partial stack config (TOML data)."""
    config: dict[str, Any] = {"name": ask("a name for this stack", "my-stack")}
    storefront = _vendor(ask, "storefront", "storefront vendor", "shopify", optional=False)
    assert storefront is not None
    config["storefront"] = _system(ask, storefront)
    market = _vendor(ask, "marketplace", "marketplace vendor", "amazon", optional=True)
    if market is not None:
        config["marketplaces"] = [{"channel": market, **_system(ask, market)}]
    middleware = _vendor(ask, "middleware", "middleware vendor", "celigo", optional=False)
    assert middleware is not None
    config["middleware"] = _system(ask, middleware)
    erp = _vendor(ask, "erp", "ERP vendor", "netsuite", optional=False)
    assert erp is not None
    config["erp"] = _system(ask, erp)
    return config


def render(config: dict[str, Any]) -> str:
    lines = [
        "# A stack config written by `oos init`. Secrets never go in this file: each",
        "# `credentials` entry NAMES the environment variable that holds the secret.",
        "# Next: export those variables (or put them in ./.env), then",
        "#   oos discover --config stack.toml --out stack.toml --force   # flows, scripts, locations",
        "#   oos check-config stack.toml                                  # one line per capability",
        "# Which permissions each credential needs: docs/vendors/<vendor>.md",
        f"name = {value(config['name'])}",
    ]
    for layer in ("storefront", "marketplaces", "middleware", "erp"):
        entries = config.get(layer)
        if entries is None:
            continue
        for entry in entries if isinstance(entries, list) else [entries]:
            header = "[[marketplaces]]" if layer == "marketplaces" else f"[{layer}]"
            lines += ["", _COMMENTS[layer], header]
            lines += [f"{k} = {value(v)}" for k, v in entry.items() if k != "options"]
            lines.append(f"options = {value(entry['options'])}")
            lines.append(f"# see docs/vendors/{entry['vendor']}.md")
    return "\n".join(lines) + "\n"


def _cmd_init(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out} exists; choose another path with --out, or add --force")
    config = interview(Asker(sys.stdin, sys.stderr))
    out.write_text(render(config), encoding="utf-8")
    print(f"oos: wrote {out}; next: oos discover --config {out}", file=sys.stderr)
    return 0


def add_init_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "init", help="answer a few questions and get a commented stack.toml to start from"
    )
    p.add_argument("--out", default="stack.toml", metavar="stack.toml", help="where to write it")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.set_defaults(run=_cmd_init)
    return p
