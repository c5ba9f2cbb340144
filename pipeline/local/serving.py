"""Serving the loan classifier and its explainer locally, the way the cluster runs them.

The notebook, the tests and `make serve` use this module from the notebook environment; the services run
in their stack's environment (``.venv-serve`` for Seldon Core), each from the one command of ``COMMANDS``:

- ``start_service`` / ``stop_service`` / ``restart_service``: one service on 127.0.0.1, in its own
  process group, with its own Prometheus multiprocess directory and audit log;
- ``ensure_services``: reuse the services `make serve` started if they serve the same artefacts, else
  start private ones on free ports, watched by a ``Watchdog`` that restarts a service whose health
  check stops answering; ``Services.stop()`` stops only what was started here;

Command line (the Makefile's `serve`, `stop`): ``python -m pipeline.local.serving start|stop|status|watchdog``;
the ports and log paths of `make serve` are recorded in ``.run/<step>.json``, its watchdog in
``.run/watchdog.json``.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.loan_service.settings import Settings
from pipeline.local import processes
from pipeline.local.processes import LOOPBACK, REPO, RUN_DIR, Watchdog, free_port  # noqa: F401 (used by tests, bench)

STEPS = REPO / "pipeline" / "pipeline_steps"
SERVE_PYTHON = REPO / ".venv-serve" / "bin" / "python"
KSERVE_PYTHON = REPO / ".venv-kserve" / "bin" / "python"
WATCHDOG = "watchdog"  # .run/watchdog.json: the supervisor process of `make serve`
_alive = processes.alive  # tests and scripts ask whether a worker's pid still runs


@dataclass(frozen=True)
class Step:
    name: str  # the deployment and image name
    interface: str  # the wrapper class
    port: int  # the documented local ports (pipeline/README.md)
    metrics_port: int
    workers: int  # gunicorn, measured with scripts/bench_serving.py
    threads: int

    @property
    def directory(self) -> Path:
        return STEPS / self.name

    @property
    def artefacts(self) -> Path:
        return self.directory / "artefacts"


# gunicorn's threaded worker: idle keep-alive connections wait in its poller, not in a thread; 8 threads
# per worker for requests in flight, so 7 slow clients cannot fill one (tests/test_resilience.py).
MODEL = Step("loanclassifier", "Model", 9000, 6000, workers=2, threads=8)
# Two workers, so a killed one leaves the other answering; in each, one explanation runs at a time, up
# to 8 wait their turn (LOAN_MAX_EXPLANATIONS) and two threads stay free for health probes.
EXPLAINER = Step("loanclassifier-explainer", "Explainer", 9001, 6001, workers=2, threads=10)
SERVED = (MODEL, EXPLAINER)  # in start order: the explainer calls the model
STEPS_BY_NAME = {s.name: s for s in SERVED}


def seldon_command(step: Step, port: int, metrics_port: int, workers: int, threads: int) -> list[str]:
    """The images' own entry point (loan_service.seldon), with the ports and workers of this machine."""
    return [str(SERVE_PYTHON), "-m", "loan_service.seldon", step.interface, "--service-type", "MODEL",
            "--http-port", str(port), "--metrics-port", str(metrics_port), "--workers", str(workers),
            "--threads", str(threads)]  # fmt: skip


def kserve_command(step: Step, port: int, metrics_port: int, workers: int, threads: int) -> list[str]:
    """The KServe images' entry point (loan_kserve.server); KServe serves /metrics on the REST port."""
    return [str(KSERVE_PYTHON), "-m", "loan_kserve.server", "model" if step is MODEL else "explainer",
            "--http_port", str(port), "--workers", str(workers)]  # fmt: skip


# LOAN_STACK -> (the command of a step, the path of predictions, the URL of health)
COMMANDS = {"seldon": (seldon_command, "/api/v1.0/predictions", "/health/status"),
            "kserve": (kserve_command, {"loanclassifier": "/v2/models/loanclassifier/infer",
                                        "loanclassifier-explainer": "/v1/models/loanclassifier:explain"},
                       "/v2/health/live")}  # fmt: skip


def stack() -> str:
    return Settings.from_env().stack


def caller_token() -> str:
    """The explainer's proof to the model, the local stand-in for the cluster's Secret: LOAN_CALLER_TOKEN,
    else one random token kept in .run/caller-token (owner-only), so every service started on this machine
    (`make serve`, its watchdog, the notebook, the tests) believes the same explainer."""
    given = Settings.from_env().caller_token
    if given:
        return given
    path = RUN_DIR / "caller-token"
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=RUN_DIR)  # mode 0600; linked into place whole, so never read half-written
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def artefacts_digest(directory: Path | str) -> str:
    """One hash for a set of artefacts: the hash of its manifest (the services report it in health)."""
    return hashlib.sha256((Path(directory) / "manifest.json").read_bytes()).hexdigest()


@dataclass
class Service:
    name: str
    pid: int
    port: int
    metrics_port: int
    artefacts: str
    log: str
    audit_log: str = ""  # one JSON line per decision or explanation (pandas.read_json(lines=True))
    metrics_dir: str = ""  # prometheus_client's multiprocess files
    started_here: bool = field(default=True, compare=False)
    # How it was started (start_service's arguments, JSON), so that the watchdog restarts it alike;
    # ``env`` stays in memory only (it may hold a secret) and is not recorded in .run/.
    spec: dict = field(default_factory=dict, compare=False)
    env: dict = field(default_factory=dict, compare=False, repr=False)
    stack: str = "seldon"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def predict_url(self) -> str:
        path = COMMANDS[self.stack][1]
        return self.url + (path if isinstance(path, str) else path[self.name])

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def audit_records(self):
        """The service's audit trail as a DataFrame, oldest first, rotated files included (the log rotates at
        20 MB and keeps 3 backups: a fast machine fills one during the notebook's monitoring demo)."""
        import pandas as pd

        files = [Path(f"{self.audit_log}.{n}") for n in (3, 2, 1)] + [Path(self.audit_log)]
        frames = [pd.read_json(f, lines=True) for f in files if f.is_file() and f.stat().st_size]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def healthy(self, timeout: float = 4.0) -> dict | None:
        """The service's health status (it names its artefacts), or None when it does not answer."""
        import requests

        try:
            response = requests.get(self.url + COMMANDS[self.stack][2], timeout=timeout)
            body = response.json() if response.ok else None
        except (requests.RequestException, ValueError):
            return None
        return body.get("jsonData", body) if isinstance(body, dict) else None


def start_service(step: Step, artefacts=None, port=None, metrics_port=None, model_url=None, log=None,
                  audit_log=None, workers=None, threads=None, n_jobs=None, env=None, wait=120.0) -> Service:
    """Start one service of the current stack on 127.0.0.1 and wait until ready. The process leads its own
    process group (gunicorn's workers and the metrics server are its children), which ``stop_service`` ends."""
    name = (env or {}).get("LOAN_STACK") or stack()
    python = SERVE_PYTHON if name == "seldon" else KSERVE_PYTHON
    if not python.exists():
        raise RuntimeError(f"{python} is missing: build the serving environment with `make serve-env` "
                           "(Seldon) or `make kserve-env` (KServe)")  # fmt: skip
    artefacts = Path(artefacts or step.artefacts).resolve()
    port = port or free_port(step.port)
    metrics_port = port if name == "kserve" else metrics_port or free_port(step.metrics_port)
    log = Path(log or (RUN_DIR / f"{step.name}.log"))
    log.parent.mkdir(parents=True, exist_ok=True)
    audit_log = Path(audit_log or log.with_name(f"{log.stem}-audit.jsonl"))
    metrics_dir = tempfile.mkdtemp(prefix=f"{step.name}-metrics-")  # fresh: counts start at 0
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "pipeline"), str(REPO)]),  # loan_service, loan_reasons
        "LOAN_CALLER_TOKEN": caller_token(), "LOAN_ARTEFACTS": str(artefacts), "LOAN_AUDIT_LOG": str(audit_log),
        "LOAN_AUDIT_STDOUT": "0", "LOAN_LOOPBACK": "1",
        "prometheus_multiproc_dir": metrics_dir, "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",  # a Jupyter kernel exports its inline backend
        **({"LOAN_MODEL_URL": model_url} if model_url else {}),
        **(env or {}),
    }  # fmt: skip
    command = COMMANDS[name][0](step, port, metrics_port, workers or step.workers, threads or step.threads)
    if n_jobs is not None and name == "seldon":  # the forest's, a parameter of Model
        command += ["--parameters", json.dumps([{"name": "n_jobs", "value": str(n_jobs), "type": "INT"}])]
    process = processes.start(command, log, cwd=step.directory, env=environment)
    spec = dict(artefacts=str(artefacts), port=port, metrics_port=metrics_port, model_url=model_url, log=str(log),
                audit_log=str(audit_log), workers=workers, threads=threads, n_jobs=n_jobs)  # fmt: skip
    service = Service(step.name, process.pid, port, metrics_port, str(artefacts), str(log), str(audit_log), metrics_dir,
                      spec=spec, env=dict(env or {}), stack=name)  # fmt: skip
    if wait:
        try:
            wait_ready(service, wait, process)
        except Exception:
            stop_service(service)
            raise
    return service


def wait_ready(service: Service, timeout: float = 120.0, process: subprocess.Popen | None = None) -> None:
    """Poll the health endpoint until a worker has loaded its artefacts, or fail with the log's tail."""
    what = f"{service.name} on port {service.port}"
    processes.wait_until(lambda: service.healthy() is not None, timeout, process, what, service.log)


def stop_service(service: Service, timeout: float = 15.0) -> None:
    """SIGTERM to the service's process group (gunicorn shuts down gracefully), SIGKILL if it lingers."""
    processes.stop_group(service.pid, timeout)
    if not processes.group_alive(service.pid) and service.metrics_dir:
        shutil.rmtree(service.metrics_dir, ignore_errors=True)


def restart_service(service: Service, wait: float = 120.0) -> Service:
    """Stop ``service``'s group and start it again as it was started (same ports), updating ``service``."""
    stop_service(service)
    fresh = start_service(STEPS_BY_NAME[service.name], **service.spec, env=service.env or None, wait=wait)
    service.pid, service.metrics_dir = fresh.pid, fresh.metrics_dir
    return service


@dataclass
class Services:
    """The two services the notebook talks to; ``stop()`` stops the ones started for this run."""

    model: Service
    explainer: Service
    watchdog: Watchdog | None = None  # restarts the started ones when their health checks fail

    @property
    def started(self) -> list[Service]:
        return [s for s in (self.model, self.explainer) if s.started_here]

    def stop(self) -> None:
        if self.watchdog is not None:  # first: it would restart what is stopped next
            self.watchdog.stop()
        for service in reversed(self.started):
            stop_service(service)
            service.started_here = False


def running_service(step: Step) -> Service | None:
    """The service of ``step`` recorded under .run/ by `make serve`, if it is alive and answers."""
    service = recorded_service(step)
    return service if service is not None and _alive(service.pid) and service.healthy() is not None else None


def recorded_service(step: Step) -> Service | None:
    """The service of ``step`` as `make serve` recorded it in .run/ (running or not)."""
    state = processes.recorded(RUN_DIR, step.name)
    return None if state is None else Service(**{**state, "started_here": False})


def record_service(service: Service) -> None:
    state = {k: v for k, v in asdict(service).items() if k not in ("env", "started_here")}
    processes.record(RUN_DIR, service.name, service.pid, state)


@dataclass
class ClusterService:
    """A SeldonDeployment reached through the cluster's ingress (Istio or Ambassador: same URL scheme)."""

    name: str
    ingress: str  # host:port
    namespace: str = "seldon"
    metrics_url: str | None = None  # e.g. a `kubectl port-forward` to the pod's metrics port 6000
    audit_log: str = ""  # in the cluster the audit trail is the pods' stdout, collected by Fluentd or similar
    started_here: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.ingress}/seldon/{self.namespace}/{self.name}"

    @property
    def predict_url(self) -> str:
        return f"{self.url}/api/v1.0/predictions"

    def healthy(self, timeout: float = 4.0) -> dict | None:
        return {}


def ensure_services(artefacts_root: Path | str | None = None) -> Services:
    """Both services, serving the artefacts under ``artefacts_root`` (default: the steps' own).

    Services started by `make serve` are reused when they serve exactly these artefacts (their health
    status reports the manifest's hash); otherwise private ones start on free loopback ports and stop
    with ``Services.stop()`` or when Python exits. With SELDON_INGRESS=host:port set, the deployments
    in the cluster are used instead (SELDON_NAMESPACE, default seldon; LOAN_METRICS_URL for metrics).
    """
    ingress = os.environ.get("SELDON_INGRESS")
    if ingress:
        namespace = os.environ.get("SELDON_NAMESPACE", "seldon")
        metrics_url = Settings.from_env().metrics_url or None
        return Services(ClusterService(MODEL.name, ingress, namespace, metrics_url),
                        ClusterService(EXPLAINER.name, ingress, namespace))  # fmt: skip
    root = None if artefacts_root is None else Path(artefacts_root)
    dirs = {s.name: (s.artefacts if root is None else root / s.name).resolve() for s in SERVED}
    found = {}
    for step in SERVED:
        service = running_service(step)
        if service is not None and (service.healthy() or {}).get("artefacts") == artefacts_digest(dirs[step.name]):
            found[step.name] = service
    model = found.get(MODEL.name) or start_service(
        MODEL, dirs[MODEL.name], port=free_port(), metrics_port=free_port(), log=_private_log(MODEL)
    )
    explainer = found.get(EXPLAINER.name)
    if explainer is None or model.started_here:  # a new model service: the explainer must call that one
        try:
            explainer = start_service(EXPLAINER, dirs[EXPLAINER.name], port=free_port(), metrics_port=free_port(),
                                      model_url=model.predict_url, log=_private_log(EXPLAINER))  # fmt: skip
        except Exception:
            if model.started_here:
                stop_service(model)
            raise
    started = [s for s in (model, explainer) if s.started_here]
    services = Services(model, explainer, Watchdog(started, restart_service).start() if started else None)
    atexit.register(services.stop)
    return services


def _private_log(step: Step) -> Path:
    return Path(tempfile.gettempdir()) / f"{step.name}-{os.getpid()}.log"


def seldon_client_predict(rows, service: Service | ClusterService) -> dict:
    """Predictions through seldon-core's SeldonClient: pipeline/client.py, run by the serving env's Python."""
    import numpy as np

    command = [str(SERVE_PYTHON), str(REPO / "pipeline" / "client.py"), json.dumps(np.asarray(rows).tolist())]
    if isinstance(service, ClusterService):
        command += ["--gateway-endpoint", service.ingress, "--namespace", service.namespace,
                    "--deployment", service.name]  # fmt: skip
    else:
        command += ["--endpoint", f"{LOOPBACK}:{service.port}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if not result.stdout.strip():
        raise RuntimeError(f"pipeline/client.py failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


# --- command line ----------------------------------------------------------------------------------


def _start_all(args) -> None:
    RUN_DIR.mkdir(exist_ok=True)
    running = [s for s in (running_service(MODEL), running_service(EXPLAINER)) if s]
    if len(running) == 2:
        print("Already running (make stop, then make serve, to restart them):")
        for s in running:
            print(f"{s.name}: {s.predict_url}  metrics {s.metrics_url}  pid {s.pid}")
        _start_watchdog(running)
        return
    _stop_all(args)  # half a pair (one crashed): start both afresh
    root = Path(args.artefacts) if args.artefacts else None
    dirs = {s.name: (s.artefacts if root is None else root / s.name) for s in SERVED}
    missing = [str(d) for d in dirs.values() if not (d / "manifest.json").exists()]
    if missing:
        sys.exit(f"no artefacts in {', '.join(missing)}: `make serve` exports them (python -m tutorial.artefacts)")
    model = start_service(MODEL, dirs[MODEL.name])
    record_service(model)
    explainer = start_service(EXPLAINER, dirs[EXPLAINER.name], model_url=model.predict_url)
    record_service(explainer)
    for s in (model, explainer):
        step = STEPS_BY_NAME[s.name]
        moved = "" if (s.port, s.metrics_port) == (step.port, step.metrics_port) else "  (documented ports taken)"
        print(f"{s.name}: {s.predict_url}  metrics {s.metrics_url}  pid {s.pid}  audit {s.audit_log}{moved}")
    _start_watchdog([model, explainer])


def _start_watchdog(services: list[Service]) -> None:
    """The watchdog process of `make serve` (unless one runs), with the services' own environment."""
    pid = processes.recorded_pid(RUN_DIR, WATCHDOG)
    if pid and _alive(pid):
        return
    env = {**os.environ, "PYTHONPATH": str(REPO), **{k: v for s in services for k, v in s.env.items()}}
    log = RUN_DIR / f"{WATCHDOG}.log"
    command = [sys.executable, "-m", "pipeline.local.serving", "watchdog", str(RUN_DIR)]
    process = processes.start(command, log, cwd=REPO, env=env)
    processes.record(RUN_DIR, WATCHDOG, process.pid, {"pid": process.pid, "log": str(log)})
    print(f"watchdog: pid {process.pid}, restarts a service whose health checks fail (log {log})")


def _stop_all(args) -> None:
    pid = processes.recorded_pid(RUN_DIR, WATCHDOG)
    if pid and _alive(pid):  # first: it would restart the services stopped next
        processes.stop_group(pid)
        print(f"stopped the watchdog (pid {pid})")
    processes.forget(RUN_DIR, WATCHDOG)
    for step in (EXPLAINER, MODEL):
        pid, state = processes.recorded_pid(RUN_DIR, step.name), processes.recorded(RUN_DIR, step.name) or {}
        if pid and _alive(pid):
            stop_service(Service(step.name, pid, 0, 0, "", "", metrics_dir=state.get("metrics_dir", "")))
            print(f"stopped {step.name} (pid {pid})")
        processes.forget(RUN_DIR, step.name)


def _status(args) -> None:
    for step in SERVED:
        service = running_service(step)
        print(f"{step.name}: " + (f"running, {service.predict_url}, pid {service.pid}" if service else "not running"))
    pid = processes.recorded_pid(RUN_DIR, WATCHDOG)
    print("watchdog: " + (f"running, pid {pid}" if pid and _alive(pid) else "not running"))


def _watchdog(args) -> None:
    """The watchdog of `make serve`: the services recorded in the run directory, until SIGTERM."""
    global RUN_DIR
    RUN_DIR = Path(args.run_dir)
    services = [s for s in (recorded_service(step) for step in SERVED) if s is not None]
    if not services:
        sys.exit("watchdog: no services recorded in .run/ (make serve starts them)")

    def restart(service):
        restart_service(service)
        record_service(service)  # the new pid, for `make stop` and the notebook

    # LOAN_WATCHDOG="interval,timeout,failures" (seconds, seconds, count): tests check faster.
    timings = [float(v) for v in Settings.from_env().watchdog.split(",") if v]
    watchdog = Watchdog(services, restart, *timings[:2], *[int(v) for v in timings[2:3]])
    signal.signal(signal.SIGTERM, lambda *_: watchdog._stop.set())
    print(f"watchdog: checking {', '.join(s.name for s in services)} every {watchdog.interval:g} s", flush=True)
    watchdog.run()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.serving", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    start = commands.add_parser("start", help="start both services on 127.0.0.1 (pids under .run/)")
    start.add_argument("--artefacts", help="serve <this>/<step name>/ instead of the steps' artefacts/")
    start.set_defaults(run=_start_all)
    commands.add_parser("stop", help="stop the services started by `start`").set_defaults(run=_stop_all)
    commands.add_parser("status", help="show whether they run").set_defaults(run=_status)
    watchdog = commands.add_parser("watchdog", help="restart recorded services whose health checks fail")
    watchdog.add_argument("run_dir", nargs="?", default=str(RUN_DIR))
    watchdog.set_defaults(run=_watchdog)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
