"""The ``augury`` command: ``augury serve`` runs embedded mode."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from augury.embedded.data_lock import DataDirectoryInUse
from augury.embedded.server import create_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="augury",
        description="Amazon Forecast and Amazon Personalize APIs, on this machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the API on 127.0.0.1 (embedded mode)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument(
        "--data-dir", default="./augury-data", help="where data lives (default ./augury-data)"
    )
    serve.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        server = create_server(args.data_dir, host=args.host, port=args.port)
    except DataDirectoryInUse as error:
        print(f"augury serve: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # the address is taken, or not this machine's
        print(f"augury serve: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Augury listening on {server.url} (data in {args.data_dir})", flush=True)
    for service in (
        "forecast",
        "forecastquery",
        "personalize",
        "personalize-runtime",
        "personalize-events",
    ):
        print(f"  {service:20s} endpoint_url={server.endpoint(service)}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
