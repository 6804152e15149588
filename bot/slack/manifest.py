"""The Slack app manifest (``bot/slack/manifest.yaml``, shipped in the package) and ``oos
manifest``, which prints it ready to paste: the request URLs pointed at your server, or Socket
Mode switched on."""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from typing import Any

PLACEHOLDER = "https://YOUR-HOST"


def manifest_text(url: str | None = None, *, socket_mode: bool = False) -> str:
    """The manifest; ``url`` (``https://oos.example.com``) replaces the placeholder host."""
    text = resources.files("bot.slack").joinpath("manifest.yaml").read_text(encoding="utf-8")
    if url is not None:
        text = text.replace(PLACEHOLDER, url.rstrip("/"))
    if socket_mode:
        text = text.replace("socket_mode_enabled: false", "socket_mode_enabled: true")
    return text


def _public_url(text: str) -> str:
    if not re.fullmatch(r"https://[^\s/]+", text.rstrip("/")):
        raise argparse.ArgumentTypeError(f"{text!r} is not an https:// address (no path)")
    return text


def add_manifest_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "manifest", help="print the Slack app manifest to paste at api.slack.com/apps"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--url",
        type=_public_url,
        metavar="https://HOST",
        help="the public address of `oos serve` (HTTP mode), e.g. https://oos-triage.fly.dev",
    )
    how.add_argument(
        "--socket-mode", action="store_true", help="Socket Mode: no public address needed"
    )
    p.set_defaults(run=_cmd_manifest)


def _cmd_manifest(args: argparse.Namespace) -> int:
    sys.stdout.write(manifest_text(args.url, socket_mode=args.socket_mode))
    return 0
