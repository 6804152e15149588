"""A ticket worker process for the multi-process tests: one ``TicketService`` on the given
database, talking HTTP to the given ticket system, running ``--triages`` triages of one report
at once (as one ``oos serve`` would), then printing the outcome kinds as JSON.

    python -m tests.tickets.worker --db DB --config CONFIG.json --report REPORT.json \
        --triages 10 --prefix a
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bot.report import Report
from bot.tickets.config import TicketsConfig
from bot.tickets.service import TicketService


async def run(args: argparse.Namespace) -> list[str]:
    config = TicketsConfig.model_validate_json(Path(args.config).read_text())
    report = Report.model_validate_json(Path(args.report).read_text())
    service = TicketService.from_config(config, args.db)
    try:
        outcomes = await asyncio.gather(
            *(service.open(report, f"{args.prefix}{n}") for n in range(args.triages))
        )
    finally:
        await service.aclose()
    return [o.kind for o in outcomes]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--triages", type=int, default=1)
    parser.add_argument("--prefix", default="t")
    print(json.dumps(asyncio.run(run(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
