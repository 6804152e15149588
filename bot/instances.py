"""One running instance, enforced on Fly.io until a shared store exists.

The bot keeps its schedule leases, ticket fingerprints and the ticket outbox in one SQLite file
on its machine's volume. A second machine gets a volume — a database — of its own, and would post
every scheduled message and open every ticket a second time. On Fly, ``<app>.internal``
resolves to the private address of every started machine of the app, so ``oos serve`` counts
them at start and refuses to run beside another (``fly scale count 1`` is the fix). Elsewhere
(``FLY_APP_NAME`` unset) nothing is checked.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

Resolver = Callable[..., list[tuple[Any, ...]]]


def fly_machines(environ: Mapping[str, str], resolve: Resolver = socket.getaddrinfo) -> int | None:
    """How many machines of this Fly app are started, or None off Fly or when DNS cannot say."""
    app = environ.get("FLY_APP_NAME", "").strip()
    if not app:
        return None
    try:
        answers = resolve(f"{app}.internal", None, socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return None
    return len({answer[4][0] for answer in answers}) or None


def only_instance_problem(
    environ: Mapping[str, str], resolve: Resolver = socket.getaddrinfo
) -> str | None:
    """Why this instance must not run (another machine of the app is up), or None."""
    count = fly_machines(environ, resolve)
    if count is None or count <= 1:
        return None
    app = environ["FLY_APP_NAME"]
    return (
        f"{count} machines of the Fly app {app} are running; each would keep its own database and "
        f"post every scheduled message and open every ticket again. Run `fly scale count 1 -a {app}`."
    )
