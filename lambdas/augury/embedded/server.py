"""The embedded server: Augury's API on 127.0.0.1, everything in one process.

The same ``Dispatcher`` the Lambda handler uses, behind the standard library's
threading HTTP server; SQLite, a data directory, the local workflow runner and
training as local processes behind the ports.

What the standard library leaves to its user, and this module adds:

* **One server per data directory** (:mod:`.data_lock`), taken before the
  directory is read, so a second ``augury serve`` refuses to start instead of
  failing the first one's work as if a crash had interrupted it.
* **Request framing in Amazon's error shape.** A body over API Gateway's 10 MB,
  a Content-Length that is not a count of bytes, or a malformed chunked body is
  answered with a JSON error and the connection is closed (its unread bytes
  cannot frame another request). ``Transfer-Encoding: chunked`` is read.
* **An orderly stop.** Once stopping, every request, on new connections and on
  kept-alive ones, gets a 503 (which botocore retries) and touches nothing;
  requests already running finish before the workflow runner and the event
  queue close, so none of them half-creates a resource.
* **Idle connections end.** A client that stops sending mid-request, or keeps a
  connection open and silent, holds a thread for :data:`REQUEST_TIMEOUT_SECONDS`
  at most; a client that goes away is logged, not reported as an error.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from augury.api.dispatch import Dispatcher
from augury.api.http import HttpRequest, HttpResponse
from augury.api.operations import default_registry
from augury.api.serialization import error_response
from augury.bootstrap import bootstrap
from augury.embedded.data_lock import DataDirectoryLock
from augury.personalize.recommender_retraining import RetrainingScheduler, release_claims
from augury.resources.errors import (
    RequestTooLarge,
    SerializationError,
    ServiceError,
    ServiceUnavailable,
)
from augury.runtime import Runtime
from augury.scratch import clear_scratch
from augury.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit; larger requests are refused the same way here."""
REQUEST_TIMEOUT_SECONDS = 120.0
"""How long a connection may stay silent, mid-request or between kept-alive requests."""
STOP_GRACE_SECONDS = 30.0
"""How long a stop waits for the requests already running to finish."""
_MAX_LINE = 65_536


class RefusedRequest(Exception):
    """A request the server answers without dispatching it; the connection then closes."""

    def __init__(self, error: ServiceError) -> None:
        super().__init__(error.message)
        self.error = error


class InFlight:
    """The requests being served, so that a stop refuses new ones and lets these finish."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0
        self.stopping = False

    def begin(self) -> bool:
        """Count a request in; ``False`` once stopping (the request must be refused)."""
        with self._changed:
            if self.stopping:
                return False
            self._count += 1
            return True

    def end(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def drain(self, timeout: float) -> bool:
        """Refuse new requests from now on; wait for the running ones (``True`` if done)."""
        with self._changed:
            self.stopping = True
            return self._changed.wait_for(lambda: self._count == 0, timeout)


def _handler_class(dispatcher: Dispatcher, in_flight: InFlight) -> type[BaseHTTPRequestHandler]:
    class AuguryRequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects
        server_version = "Augury"
        timeout = REQUEST_TIMEOUT_SECONDS
        # Headers and body leave in two writes; with Nagle's algorithm on, a keep-alive
        # client's delayed ACK holds the second one back about 40 ms on every call.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            if not in_flight.begin():
                stopping = ServiceUnavailable("Augury is stopping; retry once it runs again")
                self._refuse(stopping)
                return
            try:
                try:
                    body = self._read_body()
                except RefusedRequest as refused:
                    self._refuse(refused.error)
                    return
                url = urlsplit(self.path)
                request = HttpRequest(
                    method=self.command,
                    path=url.path,
                    headers=dict(self.headers.items()),
                    query=parse_qs(url.query),
                    body=body,
                )
                self._send(dispatcher.handle(request))
            finally:
                in_flight.end()

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").strip().lower() == "chunked":
                return self._read_chunked()
            values = self.headers.get_all("Content-Length") or []
            if not values:
                return b""
            raw = values[0]
            if len({v.strip() for v in values}) > 1:  # which one frames the body?
                raise RefusedRequest(
                    SerializationError(f"The request has {len(values)} different Content-Length")
                )
            if not raw.strip().isdigit():
                raise RefusedRequest(
                    SerializationError(f"Content-Length {raw!r} is not a number of bytes")
                )
            length = int(raw)
            if length > MAX_BODY_BYTES:
                raise RefusedRequest(_too_large(length))
            return self.rfile.read(length) if length else b""

        def _read_chunked(self) -> bytes:
            parts: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(_MAX_LINE)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    size = -1
                if size < 0:
                    raise RefusedRequest(
                        SerializationError("The chunked request body is malformed")
                    )
                if size == 0:
                    while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields: none matter here
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_BYTES:
                    raise RefusedRequest(_too_large(total))
                parts.append(self.rfile.read(size))
                self.rfile.readline(_MAX_LINE)  # the CRLF after each chunk

        def _refuse(self, error: ServiceError) -> None:
            """Answer without dispatching; unread body bytes cannot frame a next request."""
            self.close_connection = True
            response = error_response(error, None, str(uuid.uuid4()))
            response.headers["Connection"] = "close"
            self._send(response)

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("%s %s", self.address_string(), format % args)

    return AuguryRequestHandler


def _too_large(size: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body ({size} bytes) is over the {MAX_BODY_BYTES} bytes API Gateway "
        "accepts; send the data through S3 (a dataset import job) instead"
    )


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is routine; anything else is logged with its traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            logger.debug("connection from %s ended early", client_address)
            return
        logger.exception("error serving %s", client_address)


@dataclass
class EmbeddedServer:
    """A running embedded Augury; ``url`` is what boto3's ``endpoint_url`` builds on."""

    runtime: Runtime
    http: ThreadingHTTPServer
    thread: threading.Thread | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    lock: DataDirectoryLock | None = None
    retraining: RetrainingScheduler | None = None
    """Retrains recommenders every 7 days, as Amazon does (``recommender_retraining``)."""

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
        """Refuse new requests, let running ones finish, then close everything in order."""
        if not self.in_flight.drain(STOP_GRACE_SECONDS):
            logger.warning("stopping with requests still running after %.0f s", STOP_GRACE_SECONDS)
        self.http.shutdown()
        self.http.server_close()
        if self.retraining is not None:
            self.retraining.stop()
        _close_runtime(self.runtime)
        if self.lock is not None:
            self.lock.release()


def _close_runtime(runtime: Runtime) -> None:
    engine = runtime.workflows
    if hasattr(engine, "shutdown"):
        engine.shutdown()
    events = runtime.events
    if hasattr(events, "close"):
        events.close()


def create_server(
    data_dir: str | Path, *, host: str = "127.0.0.1", port: int = 8080, **bootstrap_args
) -> EmbeddedServer:
    """Lock the data directory, open it, bind the API, then stop and fail what a crash left
    running (training processes included).

    Raises :class:`.data_lock.DataDirectoryInUse` when another server holds the
    directory, and ``OSError`` when the address is taken; in both cases nothing in
    the directory has changed.
    """
    lock = DataDirectoryLock(data_dir).acquire()
    try:
        runtime = bootstrap(Settings.embedded(data_dir), **bootstrap_args)
    except BaseException:
        lock.release()
        raise
    in_flight = InFlight()
    try:
        http = _HttpServer(
            (host, port), _handler_class(Dispatcher(runtime, default_registry()), in_flight)
        )
    except BaseException:
        _close_runtime(runtime)
        lock.release()
        raise
    clear_scratch(runtime.settings)
    trainer = runtime.trainer
    if hasattr(trainer, "reap_orphans"):
        trainer.reap_orphans()
    recovered = runtime.workflows.recover()  # type: ignore[attr-defined]
    if recovered:
        logger.warning("marked %d interrupted resources as failed", recovered)
    release_claims(runtime)  # no recommender training survived the restart
    retraining = RetrainingScheduler(runtime).start()
    return EmbeddedServer(
        runtime=runtime, http=http, in_flight=in_flight, lock=lock, retraining=retraining
    )
