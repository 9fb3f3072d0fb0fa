"""法治报告问答: the chat UI, the /embed page and the REST API in one server.

    python app.py [--host 127.0.0.1] [--port 7860]      (same as `qa serve`)

Settings come from QA_* environment variables (see qa/settings.py); an empty index is filled from the seeds.
"""
from __future__ import annotations

import argparse

from qa.web import run_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="法治报告问答 web app (UI at /, API docs at /docs, embed at /embed)")
    parser.add_argument("--host", default=None, help="default: QA_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: QA_PORT or 7860")
    args = parser.parse_args(argv)
    run_server(args.host, args.port)


if __name__ == "__main__":
    main()
