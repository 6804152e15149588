"""The checks of the decision tree: pure functions ``Facts -> Outcome``, one module per layer.

Each function answers the question its entry in ``bot/tree.yaml`` asks, citing the facts it
rests on. The engine only calls a check when every system it ``needs`` was read, so a check may
assume those snapshots are present; a fact the system does not expose makes the check
``unknown`` (never a pass), and a check that does not apply to this stack is ``skipped``.
Importing this package registers every check in ``CHECKS``.
"""

from bot.checks import connector, erp, hops, marketplace, storefront
from bot.checks.base import CHECKS, Outcome, ago, failed, passed, skipped, unknown, when

__all__ = [
    "CHECKS",
    "Outcome",
    "ago",
    "connector",
    "erp",
    "failed",
    "hops",
    "marketplace",
    "passed",
    "skipped",
    "storefront",
    "unknown",
    "when",
]
