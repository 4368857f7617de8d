"""The embedded server: Augury's API on 127.0.0.1, everything in one process.

The same ``Dispatcher`` the Lambda handler uses, behind the standard library's
threading HTTP server; SQLite, a data directory, the local workflow runner and
training as local processes behind the ports.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from augury.api.dispatch import Dispatcher
from augury.api.http import HttpRequest
from augury.api.operations import default_registry
from augury.bootstrap import bootstrap
from augury.runtime import Runtime
from augury.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit; larger requests are refused the same way here."""


def _handler_class(dispatcher: Dispatcher) -> type[BaseHTTPRequestHandler]:
    class AuguryRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
        server_version = "Augury"
        # Headers and body leave in two writes; with Nagle's algorithm on, a keep-alive
        # client's delayed ACK holds the second one back about 40 ms on every call.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self.send_error(413, "Request body too large")
                return
            body = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            request = HttpRequest(
                method=self.command,
                path=url.path,
                headers=dict(self.headers.items()),
                query=parse_qs(url.query),
                body=body,
            )
            response = dispatcher.handle(request)
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return AuguryRequestHandler


@dataclass
class EmbeddedServer:
    """A running embedded Augury; ``url`` is what boto3's ``endpoint_url`` builds on."""

    runtime: Runtime
    http: ThreadingHTTPServer
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def endpoint(self, service: str) -> str:
        return f"{self.url}/{service}"

    def serve_forever(self) -> None:
        self.http.serve_forever()

    def start_in_background(self) -> EmbeddedServer:
        serve = functools.partial(self.http.serve_forever, poll_interval=0.05)
        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        engine = self.runtime.workflows
        if hasattr(engine, "shutdown"):
            engine.shutdown()
        events = self.runtime.events
        if hasattr(events, "close"):
            events.close()


def create_server(
    data_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8080, **bootstrap_args
) -> EmbeddedServer:
    """Open the data directory, fail what a crash left running, and bind the API."""
    runtime = bootstrap(Settings.embedded(data_dir), **bootstrap_args)
    recovered = runtime.workflows.recover()  # type: ignore[attr-defined]
    if recovered:
        logger.warning("marked %d interrupted resources as failed", recovered)
    dispatcher = Dispatcher(runtime, default_registry())
    http = ThreadingHTTPServer((host, port), _handler_class(dispatcher))
    http.daemon_threads = True
    return EmbeddedServer(runtime=runtime, http=http)
