"""`python -m workers.service [--config PATH] [--no-process]`: the service as a pure worker (no
HTTP API), for process managers that start a module. The service itself is `monitor.service`."""

from __future__ import annotations

import sys

from monitor.cli import main


def run_worker(argv: list[str]) -> None:
    sys.argv = ["monitor", "run", "--no-api", *argv]
    main()


if __name__ == "__main__":
    run_worker(sys.argv[1:])
