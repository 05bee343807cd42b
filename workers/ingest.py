"""`python -m workers.ingest [--config PATH] [--once] [--no-process]`: fetch cycles, each followed
by processing, digests and dispatch, for process managers that start a module. The jobs
themselves are `monitor.cycle`."""

from __future__ import annotations

import sys

from monitor.cli import main


def run_worker(argv: list[str]) -> None:
    sys.argv = ["monitor", "fetch", *argv]
    main()


if __name__ == "__main__":
    run_worker(sys.argv[1:])
