"""The main job: start embedded Augury and walk stock boto3 clients through it.

Runs ``augury serve`` as a separate process (exactly as a user would), then
drives it with the unmodified boto3 clients and ``endpoint_url``:

- Forecast (``demo_forecast``): import the bundled retail sample, train an
  AutoPredictor, print its backtest accuracy, forecast, query one item and
  draw its fan chart, export every forecast;
- Personalize (``demo_personalize``): import MovieLens 100K, train
  User-Personalization and print its metrics, deploy a campaign, recommend
  films for a user, send click events and show the recommendations change.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import demo_forecast
import demo_personalize

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"augury serve exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("augury serve did not start listening in time")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT / "augury-data" / "demo"))
    parser.add_argument(
        "--only", choices=("forecast", "personalize"), help="run one walkthrough only"
    )
    args = parser.parse_args()
    data_dir = Path(args.data_dir).resolve()
    shutil.rmtree(data_dir, ignore_errors=True)  # the demo's own directory: start clean
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "augury.embedded.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "WARNING",
    ]
    print("$ augury serve --port", port, "--data-dir", data_dir)
    started = time.monotonic()
    process = subprocess.Popen(command)
    try:
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        if args.only in (None, "forecast"):
            demo_forecast.run(base, data_dir)
        if args.only in (None, "personalize"):
            demo_personalize.run(base, data_dir)
        print(
            f"\nDone in {time.monotonic() - started:.0f} s. Data is in {data_dir}; "
            f"run `augury serve --data-dir {data_dir}` to explore."
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
