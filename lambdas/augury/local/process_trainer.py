"""The embedded Trainer: a training container's entry point run as a subprocess.

Each job gets ``<work_dir>/<job name>/`` laid out exactly like SageMaker's
``/opt/ml`` (see ``augury_training.contract``), so a container cannot tell the
difference: hyperparameters and channel data go in, ``model/`` comes back as
``<output_prefix>/model.tar.gz`` in the blob store, ``output/failure`` becomes
the failure reason. A background thread per job downloads the channels, runs
the process in its own process group (so stop and timeouts kill the whole tree)
and records the outcome.

The state is kept in memory and in ``<job dir>/state.json``. A job that is
InProgress on disk but was not started by this process was orphaned by a
restart, and is reported Failed: nothing will ever finish it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from augury.local.file_blobs import check_key, check_prefix
from augury.ports import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_IN_PROGRESS,
    TRAINING_STOPPED,
    AlreadyExists,
    BlobStore,
    NotFound,
    TrainingJobSpec,
    TrainingJobState,
)
from augury_training.contract import FAILURE_REASON_LIMIT, ROOT_ENV, TrainPaths

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: Augury restarted while this job was running"
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")  # SageMaker's rule
_CHANNEL_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_LOG_TAIL = 600


@dataclass
class _Job:
    spec: TrainingJobSpec
    paths: TrainPaths
    argv: list[str]
    state: TrainingJobState
    started: float = field(default_factory=time.monotonic)
    process: subprocess.Popen | None = None
    stop_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


# Jobs started by any ProcessTrainer in this process, by job directory: a job
# on disk that is not here has no process watching it.
_LIVE: dict[Path, _Job] = {}
_LIVE_LOCK = threading.Lock()


class ProcessTrainer:
    """``Trainer`` running containers as local subprocesses under ``work_dir``."""

    def __init__(
        self,
        blobs: BlobStore,
        work_dir: Path | str,
        containers: Mapping[str, Sequence[str]],
        *,
        stop_grace_seconds: float = 10.0,
    ) -> None:
        self.blobs = blobs
        self.work_dir = Path(work_dir).expanduser().resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.containers = {name: list(argv) for name, argv in containers.items()}
        self.stop_grace_seconds = stop_grace_seconds

    # -- the port ---------------------------------------------------------------

    def start(self, spec: TrainingJobSpec) -> None:
        argv = self.containers.get(spec.container)
        if argv is None:
            known = ", ".join(sorted(self.containers)) or "none"
            raise ValueError(f"unknown training container {spec.container!r} (configured: {known})")
        self._check_spec(spec)
        job_dir = self.work_dir / spec.name
        paths = TrainPaths(job_dir)
        job = _Job(spec, paths, argv, TrainingJobState(spec.name, TRAINING_IN_PROGRESS))
        with _LIVE_LOCK:
            if job_dir in _LIVE:
                raise AlreadyExists(spec.name)
            try:
                job_dir.mkdir()
            except FileExistsError as exc:
                raise AlreadyExists(spec.name) from exc
            _LIVE[job_dir] = job
        try:
            self._lay_out(job)
            self._save(job)
        except BaseException:
            self._finish(job, TRAINING_FAILED, "could not prepare the job directory")
            raise
        threading.Thread(
            target=self._run, args=(job,), name=f"train-{spec.name}", daemon=True
        ).start()

    def describe(self, name: str) -> TrainingJobState:
        job_dir = self._job_dir(name)
        with _LIVE_LOCK:
            job = _LIVE.get(job_dir)
        if job is not None:
            return job.state
        try:
            saved = json.loads((job_dir / "state.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError) as exc:
            if not job_dir.is_dir():
                raise NotFound(name) from exc
            saved = {"status": TRAINING_IN_PROGRESS}  # died before its first state was saved
        state = TrainingJobState(
            name=name,
            status=saved["status"],
            failure_reason=saved.get("failure_reason"),
            model_key=saved.get("model_key"),
        )
        if state.status == TRAINING_IN_PROGRESS:
            state = replace(state, status=TRAINING_FAILED, failure_reason=INTERRUPTED)
            _write_json(job_dir / "state.json", {**saved, **asdict(state)})
        return state

    def stop(self, name: str) -> None:
        job_dir = self._job_dir(name)
        with _LIVE_LOCK:
            job = _LIVE.get(job_dir)
        if job is None:
            self.describe(name)  # NotFound, or a finished job: nothing to stop
            return
        with job.lock:
            if job.state.status != TRAINING_IN_PROGRESS:
                return
            job.stop_requested.set()
            process = job.process
        if process is not None:
            _signal_group(process, signal.SIGTERM)
            timer = threading.Timer(
                self.stop_grace_seconds, _signal_group, args=(process, signal.SIGKILL)
            )
            timer.daemon = True
            timer.start()

    # -- conveniences (not in the port) -------------------------------------------

    def reap_orphans(self) -> int:
        """Kill what a crashed server left training under ``work_dir``; return how many.

        Called when a server starts, once the data directory is its own
        (:mod:`augury.embedded.data_lock`): a job still InProgress on disk then has
        no server watching it. Its processes run in their own session, so the crash
        did not take them along, and they would go on using every core. Each such
        job is recorded Failed, as :meth:`describe` reports it.
        """
        reaped = 0
        for state_file in sorted(self.work_dir.glob("*/state.json")):
            job_dir = state_file.parent
            with _LIVE_LOCK:
                if job_dir in _LIVE:
                    continue
            try:
                saved = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if saved.get("status") != TRAINING_IN_PROGRESS:
                continue
            pid = saved.get("process_pid")
            if isinstance(pid, int) and _leads_a_group_in(pid, job_dir):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                    reaped += 1
                    log.warning("killed training job %s, left running by a crash", job_dir.name)
            self.describe(job_dir.name)
        return reaped

    def close(self) -> None:
        """Kill every job this process is running under ``work_dir`` (server shutdown).

        The jobs run in their own sessions, so they would outlive the server;
        the next start would report them interrupted while they still ran.
        """
        with _LIVE_LOCK:
            jobs = [job for path, job in _LIVE.items() if path.parent == self.work_dir]
        for job in jobs:
            self.stop(job.spec.name)
            if job.process is not None:
                _signal_group(job.process, signal.SIGKILL)

    def wait(self, name: str, timeout: float | None = None) -> TrainingJobState:
        """Block until the job leaves InProgress (or ``timeout``); return its state."""
        with _LIVE_LOCK:
            job = _LIVE.get(self._job_dir(name))
        if job is not None:
            job.done.wait(timeout)
        return self.describe(name)

    def job_dir(self, name: str) -> Path:
        """The job's SageMaker-style root directory."""
        return self._job_dir(name)

    # -- the job thread ------------------------------------------------------------

    def _run(self, job: _Job) -> None:
        spec, paths = job.spec, job.paths
        try:
            self._download_channels(job)
        except Exception as exc:
            log.exception("training job %s: downloading input failed", spec.name)
            self._finish(job, TRAINING_FAILED, f"ClientError: could not download input: {exc}")
            return
        log_path = paths.output_dir / "job.log"
        timed_out = False
        try:
            with open(log_path, "ab") as log_file:
                with job.lock:
                    if job.stop_requested.is_set():
                        self._finish_locked(job, TRAINING_STOPPED, None)
                        return
                    job.process = subprocess.Popen(
                        job.argv,
                        cwd=paths.root,
                        env=self._env(job),
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    self._save(job)  # its pid: what reap_orphans kills after a crash
                remaining = spec.max_runtime_seconds - (time.monotonic() - job.started)
                try:
                    code = job.process.wait(timeout=max(remaining, 0.001))
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _signal_group(job.process, signal.SIGKILL)
                    code = job.process.wait()
        except OSError as exc:
            self._finish(job, TRAINING_FAILED, f"could not start the training container: {exc}")
            return
        self._upload_log(job, log_path)
        if timed_out:
            reason = (
                "MaxRuntimeExceeded: Training job exceeded MaxRuntimeInSeconds "
                f"({spec.max_runtime_seconds} s) and was killed"
            )
            self._finish(job, TRAINING_FAILED, reason)
        elif job.stop_requested.is_set():
            self._finish(job, TRAINING_STOPPED, None)
        elif code == 0:
            try:
                model_key = self._ship_model(job)
            except Exception as exc:
                log.exception("training job %s: uploading the model failed", spec.name)
                self._finish(job, TRAINING_FAILED, f"ClientError: could not upload model: {exc}")
            else:
                self._finish(job, TRAINING_COMPLETED, None, model_key)
        else:
            self._finish(job, TRAINING_FAILED, _failure_reason(paths, code, log_path))

    def _download_channels(self, job: _Job) -> None:
        for channel, prefix in job.spec.channels.items():
            destination = job.paths.channel(channel)
            destination.mkdir(parents=True, exist_ok=True)
            prefix = _as_directory(prefix)
            for key in self.blobs.list_keys(prefix):
                if job.stop_requested.is_set():
                    return
                self.blobs.download_file(key, destination / key[len(prefix) :])

    def _ship_model(self, job: _Job) -> str:
        archive = job.paths.output_dir / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for child in sorted(job.paths.model_dir.iterdir()):
                tar.add(child, arcname=child.name)
        key = f"{_output_prefix(job.spec)}/model.tar.gz"
        self.blobs.upload_file(archive, key)
        return key

    def _upload_log(self, job: _Job, log_path: Path) -> None:
        try:
            self.blobs.upload_file(log_path, f"{_output_prefix(job.spec)}/job.log")
        except Exception:
            log.exception("training job %s: uploading job.log failed", job.spec.name)

    def _env(self, job: _Job) -> dict[str, str]:
        paths, spec = job.paths, job.spec
        root = str(paths.root)
        env = dict(os.environ)
        env.update(
            {
                ROOT_ENV: root,
                "SM_ROOT": root,
                "SM_MODEL_DIR": str(paths.model_dir),
                "SM_INPUT_DIR": str(paths.input_dir),
                "SM_INPUT_CONFIG_DIR": str(paths.input_config_dir),
                "SM_OUTPUT_DIR": str(paths.output_dir),
                "SM_OUTPUT_DATA_DIR": str(paths.output_data_dir),
                "SM_CHANNELS": json.dumps(sorted(spec.channels)),
                "SM_HPS": json.dumps(dict(spec.hyperparameters)),
                "SM_CURRENT_HOST": "algo-1",
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_NUM_CPUS": str(os.cpu_count() or 1),
                "TRAINING_JOB_NAME": spec.name,
                "PYTHONUNBUFFERED": "1",
            }
        )
        for channel in spec.channels:
            env[f"SM_CHANNEL_{channel.upper()}"] = str(paths.channel(channel))
        return env

    # -- state ---------------------------------------------------------------------

    def _finish(
        self, job: _Job, status: str, reason: str | None, model_key: str | None = None
    ) -> None:
        with job.lock:
            self._finish_locked(job, status, reason, model_key)

    def _finish_locked(
        self, job: _Job, status: str, reason: str | None, model_key: str | None = None
    ) -> None:
        if reason is not None:
            reason = reason[:FAILURE_REASON_LIMIT]
        job.state = TrainingJobState(job.spec.name, status, reason, model_key)
        try:
            self._save(job)
        finally:
            job.done.set()
        log.info("training job %s: %s %s", job.spec.name, status, reason or "")

    def _save(self, job: _Job) -> None:
        document = {
            **asdict(job.state),
            "container": job.spec.container,
            "owner_pid": os.getpid(),
            "process_pid": job.process.pid if job.process else None,
            "updated_at": time.time(),
        }
        _write_json(job.paths.root / "state.json", document)

    # -- checks and layout -----------------------------------------------------------

    def _job_dir(self, name: str) -> Path:
        if not isinstance(name, str) or not _JOB_NAME.match(name):
            raise NotFound(name)
        return self.work_dir / name

    @staticmethod
    def _check_spec(spec: TrainingJobSpec) -> None:
        if not _JOB_NAME.match(spec.name):
            raise ValueError(f"invalid training job name {spec.name!r}")
        for channel, prefix in spec.channels.items():
            if not _CHANNEL_NAME.match(channel) or channel in {".", ".."}:
                raise ValueError(f"invalid channel name {channel!r}")
            check_prefix(prefix)
        check_key(_output_prefix(spec))
        if spec.max_runtime_seconds < 1:
            raise ValueError("max_runtime_seconds must be at least 1")

    @staticmethod
    def _lay_out(job: _Job) -> None:
        paths, spec = job.paths, job.spec
        paths.make_dirs()
        _write_json(
            paths.hyperparameters_file, {k: str(v) for k, v in spec.hyperparameters.items()}
        )
        _write_json(
            paths.input_data_config_file,
            {
                channel: {
                    "TrainingInputMode": "File",
                    "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "None",
                }
                for channel in spec.channels
            },
        )
        _write_json(
            paths.resource_config_file,
            {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"},
        )
        for channel in spec.channels:
            paths.channel(channel).mkdir(parents=True, exist_ok=True)


def _output_prefix(spec: TrainingJobSpec) -> str:
    return spec.output_prefix.strip("/")


def _as_directory(prefix: str) -> str:
    """Channel prefixes name a directory: ``data/x`` must not pick up ``data/xy/...``."""
    return prefix if prefix == "" or prefix.endswith("/") else prefix + "/"


def _failure_reason(paths: TrainPaths, code: int, log_path: Path) -> str:
    with contextlib.suppress(OSError):
        text = paths.failure_file.read_text(encoding="utf-8", errors="replace")
        if text.strip():
            return text[:FAILURE_REASON_LIMIT]
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    tail = ""
    with contextlib.suppress(OSError), open(log_path, "rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - _LOG_TAIL))
        tail = handle.read().decode("utf-8", errors="replace").strip()
    reason = f"AlgorithmError: training process {how}"
    return f"{reason}; log tail: {tail}" if tail else reason


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the job's process group (its children too), if it is still running."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)


def _leads_a_group_in(pid: int, job_dir: Path) -> bool:
    """Whether ``pid`` still leads its process group and works in ``job_dir``: a pid saved
    before a crash may since have gone to an unrelated process, which must not be killed.
    Without ``/proc`` (macOS) nothing can be told, so nothing is killed."""
    try:
        if os.getpgid(pid) != pid:
            return False
        return Path(f"/proc/{pid}/cwd").resolve() == job_dir.resolve()
    except OSError:
        return False


@atexit.register
def _kill_running_jobs() -> None:
    """At interpreter exit, take the training processes along (see ``close``)."""
    with _LIVE_LOCK:
        processes = [job.process for job in _LIVE.values() if job.process is not None]
    for process in processes:
        _signal_group(process, signal.SIGKILL)


def _write_json(path: Path, document: object) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temp.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)
