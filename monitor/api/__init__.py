"""The HTTP API (FastAPI), served by `monitor run`."""
