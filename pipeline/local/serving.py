"""Serving the loan classifier and its explainer locally with Seldon Core, the way the cluster runs them.

The notebook, the tests and `make serve` use this module from the notebook environment; the services
run in `.venv-serve` (seldon-core cannot share an environment with TensorFlow):

- ``start_service`` / ``stop_service``: one wrapper under ``seldon-core-microservice`` on 127.0.0.1, in
  its own process group, with its own Prometheus multiprocess directory and audit log;
- ``ensure_services``: reuse the services `make serve` started if they serve the same artefacts, else
  start private ones on free ports; ``Services.stop()`` stops only what was started here;
- ``approval_rates``: decisions and approval rate per gender from the model's Prometheus metrics.

Artefacts (export, manifests) live in ``pipeline.local.artefacts``. Command line (the Makefile's
`serve`, `stop`): ``python -m pipeline.local.serving start|stop|status|export``; the ports and log paths
of `make serve` are recorded in ``.run/<step>.json``, which everything reads.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.local.artefacts import (  # noqa: F401 (the notebook's one import for section 4)
    CLASS_NAMES,
    artefacts_digest,
    build_serving_artefacts,
    export_artefacts,
)

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "pipeline" / "pipeline_steps"
SERVE_PYTHON = REPO / ".venv-serve" / "bin" / "python"
RUN_DIR = REPO / ".run"  # pid files, state, logs and audit logs of the services `make serve` started
LOOPBACK = "127.0.0.1"
# The explainer's proof to the model (loan_service.caller): one random token for every service this
# process starts, so an explainer started here is believed by a model started here.
CALLER_TOKEN = os.environ.get("LOAN_CALLER_TOKEN") or secrets.token_hex(16)


@dataclass(frozen=True)
class Step:
    name: str  # the SeldonDeployment and image name
    interface: str  # the wrapper class seldon-core-microservice loads
    service_type: str
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


# gunicorn's threaded worker: idle keep-alive connections wait in its poller, not in a thread; the threads
# are for requests in flight (a slow client holds one for at most LOAN_READ_TIMEOUT).
MODEL = Step("loanclassifier", "Model", "MODEL", 9000, 6000, workers=2, threads=4)
# One worker: alibi's explainer runs one explanation at a time (Explainer.py); up to 8 wait their turn
# (LOAN_MAX_EXPLANATIONS) and two threads stay free for health probes.
EXPLAINER = Step("loanclassifier-explainer", "Explainer", "MODEL", 9001, 6001, workers=1, threads=10)
STEPS_BY_NAME = {s.name: s for s in (MODEL, EXPLAINER)}


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

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def audit_records(self):
        """The service's audit trail as a DataFrame, oldest first, rotated files included (the log rotates at
        20 MB and keeps 3 backups: a fast machine fills one during the notebook's monitoring demo)."""
        import pandas as pd

        files = [Path(f"{self.audit_log}.{n}") for n in (3, 2, 1)] + [Path(self.audit_log)]
        frames = [pd.read_json(f, lines=True) for f in files if f.is_file() and f.stat().st_size]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def predict_url(self) -> str:
        return f"{self.url}/api/v1.0/predictions"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def healthy(self, timeout: float = 2.0) -> dict | None:
        """The wrapper's health status (it names its artefacts), or None when it does not answer."""
        import requests

        try:
            response = requests.get(f"{self.url}/health/status", timeout=timeout)
            return response.json().get("jsonData") if response.ok else None
        except (requests.RequestException, ValueError):
            return None


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there on loopback, else a port the kernel hands out.

    SO_REUSEADDR as gunicorn binds: connections of a stopped service lingering in TIME_WAIT do not make
    the documented port look taken."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def start_service(
    step: Step,
    artefacts: Path | str | None = None,
    port: int | None = None,
    metrics_port: int | None = None,
    model_url: str | None = None,
    log: Path | str | None = None,
    audit_log: Path | str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    n_jobs: int | None = None,
    env: dict | None = None,
    wait: float = 120.0,
) -> Service:
    """Start one wrapper with seldon-core-microservice from .venv-serve, on 127.0.0.1, and wait until ready.

    The process leads its own process group (gunicorn's workers and the metrics server are its
    children), so ``stop_service`` ends exactly that group.
    """
    if not SERVE_PYTHON.exists():
        raise RuntimeError(f"{SERVE_PYTHON} is missing: build the serving environment with `make serve-env`")
    artefacts = Path(artefacts or step.artefacts).resolve()
    port = port or free_port(step.port)
    metrics_port = metrics_port or free_port(step.metrics_port)
    log = Path(log or (RUN_DIR / f"{step.name}.log"))
    log.parent.mkdir(parents=True, exist_ok=True)
    audit_log = Path(audit_log or log.with_name(f"{log.stem}-audit.jsonl"))
    metrics_dir = tempfile.mkdtemp(prefix=f"{step.name}-metrics-")  # fresh: counts start at 0
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "pipeline")]),  # pipeline/: the loan_service package
        "LOAN_CALLER_TOKEN": CALLER_TOKEN,
        "LOAN_ARTEFACTS": str(artefacts),
        "LOAN_AUDIT_LOG": str(audit_log),
        "LOAN_AUDIT_STDOUT": "0",  # the log file is enough locally
        "prometheus_multiproc_dir": metrics_dir,
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        "PYTHONUNBUFFERED": "1",
        # A Jupyter kernel exports its inline plotting backend, which the serving env does not have.
        "MPLBACKEND": "Agg",
        **({"LOAN_MODEL_URL": model_url} if model_url else {}),
        **(env or {}),
    }
    command = [
        str(SERVE_PYTHON), "-m", "pipeline.local.seldon_loopback", step.interface,
        "--service-type", step.service_type, "--http-port", str(port), "--metrics-port", str(metrics_port),
        "--workers", str(workers or step.workers), "--threads", str(threads or step.threads),
    ]  # fmt: skip
    if n_jobs is not None:  # the forest's, a Seldon parameter of Model
        command += ["--parameters", json.dumps([{"name": "n_jobs", "value": str(n_jobs), "type": "INT"}])]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=step.directory,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service = Service(step.name, process.pid, port, metrics_port, str(artefacts), str(log), str(audit_log), metrics_dir)
    if wait:
        try:
            wait_ready(service, wait, process)
        except Exception:
            stop_service(service)
            raise
    return service


def wait_ready(service: Service, timeout: float = 120.0, process: subprocess.Popen | None = None) -> None:
    """Poll the health endpoint until a worker has loaded its artefacts, or fail with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.healthy(timeout=2.0) is not None:
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.2)
    tail = Path(service.log).read_text(errors="replace")[-3000:] if Path(service.log).exists() else ""
    raise RuntimeError(f"{service.name} did not become ready on port {service.port}; log {service.log}:\n{tail}")


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that has exited: reaped now
            return False
    except ChildProcessError:
        pass  # not our child (started by `make serve`): init reaps it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_service(service: Service, timeout: float = 15.0) -> None:
    """SIGTERM to the service's process group (gunicorn shuts down gracefully), SIGKILL if it lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(service.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(service.pid) and not _group_alive(service.pid):
                if service.metrics_dir:
                    shutil.rmtree(service.metrics_dir, ignore_errors=True)
                return
            time.sleep(0.1)


@dataclass
class Services:
    """The two services the notebook talks to; ``stop()`` stops the ones started for this run."""

    model: Service
    explainer: Service

    @property
    def started(self) -> list[Service]:
        return [s for s in (self.model, self.explainer) if s.started_here]

    def stop(self) -> None:
        for service in reversed(self.started):
            stop_service(service)
            service.started_here = False


def running_service(step: Step) -> Service | None:
    """The service of ``step`` recorded under .run/ by `make serve`, if it is alive and answers."""
    state = RUN_DIR / f"{step.name}.json"
    if not state.exists():
        return None
    service = Service(**{**json.loads(state.read_text()), "started_here": False})
    return service if _alive(service.pid) and service.healthy() is not None else None


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

    def healthy(self, timeout: float = 2.0) -> dict | None:
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
        return Services(
            ClusterService(MODEL.name, ingress, namespace, os.environ.get("LOAN_METRICS_URL")),
            ClusterService(EXPLAINER.name, ingress, namespace),
        )
    dirs = {
        s.name: (s.artefacts if artefacts_root is None else Path(artefacts_root) / s.name).resolve()
        for s in (MODEL, EXPLAINER)
    }
    found = {}
    for step in (MODEL, EXPLAINER):
        service = running_service(step)
        if service is not None and (service.healthy() or {}).get("artefacts") == artefacts_digest(dirs[step.name]):
            found[step.name] = service
    model = found.get(MODEL.name) or start_service(
        MODEL, dirs[MODEL.name], port=free_port(), metrics_port=free_port(), log=_private_log(MODEL)
    )
    explainer = found.get(EXPLAINER.name)
    if explainer is None or model.started_here:  # a new model service: the explainer must call that one
        try:
            explainer = start_service(
                EXPLAINER,
                dirs[EXPLAINER.name],
                port=free_port(),
                metrics_port=free_port(),
                model_url=model.predict_url,
                log=_private_log(EXPLAINER),
            )
        except Exception:
            if model.started_here:
                stop_service(model)
            raise
    services = Services(model, explainer)
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


# --- metrics ---------------------------------------------------------------------------------------


def loan_metric_lines(metrics_text: str) -> list[str]:
    """Our families from the Prometheus text (Seldon's own are left out), one sample a line."""
    from prometheus_client.parser import text_string_to_metric_families

    lines = []
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name in ("loan_decisions_total", "loan_requests_total"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{s.name}{{{labels}}} {s.value:g}")
    return lines


def decision_counts(metrics_text: str, caller: str = "applicant"):
    """``loan_decisions_total`` of one caller as a table: rows gender, columns approved and rejected."""
    import pandas as pd
    from prometheus_client.parser import text_string_to_metric_families

    counts = {
        (s.labels["gender"], s.labels["decision"]): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name == "loan_decisions_total" and s.labels.get("caller") == caller
    }
    table = pd.Series(counts, dtype=float).unstack(fill_value=0.0) if counts else pd.DataFrame()
    table = table.reindex(columns=["approved", "rejected"], fill_value=0.0).fillna(0.0).astype(int)
    table.index.name = "gender"
    return table


def approval_rates(metrics_text: str):
    """Applications, approvals and approval rate per gender, of applicants only (not the explainer's
    perturbed samples), from the model's Prometheus metrics (summed over workers by prometheus_client)."""
    counts = decision_counts(metrics_text)
    table = counts.assign(applications=counts["approved"] + counts["rejected"], approvals=counts["approved"])
    table = table[["applications", "approvals"]]
    table["approval_rate"] = table["approvals"] / table["applications"]
    return table


# --- command line ----------------------------------------------------------------------------------


def _start_all(args) -> None:
    RUN_DIR.mkdir(exist_ok=True)
    running = [s for s in (running_service(MODEL), running_service(EXPLAINER)) if s]
    if len(running) == 2:
        print("Already running (make stop, then make serve, to restart them):")
        for s in running:
            print(f"{s.name}: {s.predict_url}  metrics {s.metrics_url}  pid {s.pid}")
        return
    _stop_all(args)  # half a pair (one crashed): start both afresh
    root = Path(args.artefacts) if args.artefacts else None
    dirs = {s.name: (s.artefacts if root is None else root / s.name) for s in (MODEL, EXPLAINER)}
    if not all((d / "manifest.json").exists() for d in dirs.values()):
        print("No artefacts yet (make run writes them): training the served model and its explainer...")
        export_artefacts(*build_serving_artefacts(), root=root)
    model = start_service(MODEL, dirs[MODEL.name])
    _record(model)
    explainer = start_service(EXPLAINER, dirs[EXPLAINER.name], model_url=model.predict_url)
    _record(explainer)
    for s in (model, explainer):
        step = STEPS_BY_NAME[s.name]
        moved = "" if (s.port, s.metrics_port) == (step.port, step.metrics_port) else "  (documented ports taken)"
        print(f"{s.name}: {s.predict_url}  metrics {s.metrics_url}  pid {s.pid}  audit {s.audit_log}{moved}")


def _record(service: Service) -> None:
    (RUN_DIR / f"{service.name}.pid").write_text(f"{service.pid}\n")
    (RUN_DIR / f"{service.name}.json").write_text(json.dumps(asdict(service), indent=2) + "\n")


def _stop_all(args) -> None:
    for step in (EXPLAINER, MODEL):
        pid_file, state = RUN_DIR / f"{step.name}.pid", RUN_DIR / f"{step.name}.json"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            metrics_dir = json.loads(state.read_text()).get("metrics_dir", "") if state.exists() else ""
            if _alive(pid):
                stop_service(Service(step.name, pid, 0, 0, "", "", metrics_dir=metrics_dir))
                print(f"stopped {step.name} (pid {pid})")
            pid_file.unlink()
        state.unlink(missing_ok=True)


def _status(args) -> None:
    for step in (MODEL, EXPLAINER):
        service = running_service(step)
        print(f"{step.name}: " + (f"running, {service.predict_url}, pid {service.pid}" if service else "not running"))


def _export(args) -> None:
    for name, path in export_artefacts(*build_serving_artefacts(n_rows=args.rows)).items():
        print(f"{name}: {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local.serving", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True)
    start = commands.add_parser("start", help="start both services on 127.0.0.1 (pids under .run/)")
    start.add_argument("--artefacts", help="serve <this>/<step name>/ instead of the steps' artefacts/")
    start.set_defaults(run=_start_all)
    commands.add_parser("stop", help="stop the services started by `start`").set_defaults(run=_stop_all)
    commands.add_parser("status", help="show whether they run").set_defaults(run=_status)
    export = commands.add_parser("export", help="train and export the artefacts without the notebook")
    export.add_argument("--rows", type=int, default=None, help="train on a sample of this many rows")
    export.set_defaults(run=_export)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
