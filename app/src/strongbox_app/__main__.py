"""``python -m strongbox_app``: run the app locally on Werkzeug's development server.

This command is local development by definition (the development server is
not for production), so it lets the app generate and keep a secret key in its
instance folder when ``FLASK_SECRET_KEY`` is not set. It does not turn on
debug mode: the interactive debugger would run code for anyone who can reach
the port.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from . import create_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m strongbox_app",
        description="Run the Flask-Strongbox reference app on the development server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port to listen on ($PORT, else 5000)")
    args = parser.parse_args(argv)
    port: int | None = args.port
    if port is None:
        env_port = os.environ.get("PORT", "5000")
        if not env_port.isdigit():
            parser.error(f"PORT must be a port number, not {env_port!r}")
        port = int(env_port)

    app = create_app({"GENERATE_SECRET_KEY": True})
    app.run(host=args.host, port=port, debug=False, load_dotenv=False)


if __name__ == "__main__":
    main()
