"""Serving the loan classifier and its explainer locally with Seldon Core, the way the cluster runs them.

The notebook (and the tests, and `make serve`) use this module from the notebook environment; the
services themselves run in `.venv-serve` (seldon-core cannot share an environment with TensorFlow):

- ``export_artefacts``: the fitted pipeline and the Anchors explainer into the steps' ``artefacts/``
  directories, each with a ``manifest.json`` of sha256 hashes the wrappers check before loading;
- ``start_service`` / ``stop_service``: one wrapper under ``seldon-core-microservice`` on 127.0.0.1;
- ``ensure_services``: reuse the services ``make serve`` started if they serve the same artefacts,
  else start private ones on free ports; ``Services.stop()`` stops only what was started here;
- ``approval_rates``: the per-gender counters of the model's Prometheus metrics as a table.

Command line (the Makefile's `serve`, `stop`, `status`): ``python -m pipeline.local.serving start|stop|status``.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
STEPS = REPO / "pipeline" / "pipeline_steps"
SERVE_PYTHON = REPO / ".venv-serve" / "bin" / "python"
RUN_DIR = REPO / ".run"  # pid files and logs of the services `make serve` started
CLASS_NAMES = ["rejected", "approved"]
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Step:
    name: str  # the SeldonDeployment and image name
    interface: str  # the wrapper class seldon-core-microservice loads
    service_type: str
    port: int  # preferred local ports; free ones are used when these are taken
    metrics_port: int
    workers: int  # gunicorn, tuned with scripts/bench_serving.py
    threads: int

    @property
    def directory(self) -> Path:
        return STEPS / self.name

    @property
    def artefacts(self) -> Path:
        return self.directory / "artefacts"


# Two threads per worker: gunicorn's threaded worker keeps connections alive (the explainer sends many).
MODEL = Step("loanclassifier", "Model", "MODEL", 9000, 6000, workers=2, threads=2)
# An explanation takes seconds and alibi's explainer is not thread-safe (Explainer.py serialises
# explanations); the second thread keeps gunicorn's heartbeat going during a long one.
EXPLAINER = Step("loanclassifier-explainer", "Explainer", "MODEL", 9001, 6001, workers=1, threads=2)
STEPS_BY_NAME = {s.name: s for s in (MODEL, EXPLAINER)}


# --- artefacts -------------------------------------------------------------------------------------


def sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_manifest(directory: Path | str) -> dict:
    """Record the sha256 of every file under ``directory`` in its manifest.json."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
    manifest = {"sha256": {p.relative_to(directory).as_posix(): sha256(p) for p in files}}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def artefacts_digest(directory: Path | str) -> str:
    """One hash for a set of artefacts: the hash of its manifest (the wrappers report it in health)."""
    return sha256(Path(directory) / "manifest.json")


def export_artefacts(model, explainer, category_map: dict, root: Path | str | None = None) -> dict[str, Path]:
    """Write the fitted pipeline and the Anchors explainer where the wrappers load them from.

    ``model`` is the fitted preprocessor + classifier pipeline (it takes rows of model features),
    ``explainer`` a fitted alibi ``AnchorTabular``, saved with alibi's own saving (without its
    predictor: the served explainer calls the model service instead). ``root`` None writes into the
    steps' ``artefacts/`` directories; another directory gets ``<root>/<step name>/``.
    Returns the artefact directory of each step.
    """
    import dill

    from tutorial.data import FEATURES

    dirs = {s.name: (s.artefacts if root is None else Path(root) / s.name) for s in (MODEL, EXPLAINER)}
    for step_name, target in dirs.items():
        # Write next to the target and swap, so a half-written set never sits under the final name.
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{step_name}-", dir=target.parent))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the artefacts from the image's non-root user
        if step_name == MODEL.name:
            with open(staging / "model.dill", "wb") as f:
                dill.dump(model, f)
            metadata = {
                "features": list(FEATURES),
                "class_names": CLASS_NAMES,
                "category_map": {str(i): list(names) for i, names in category_map.items()},
            }
            (staging / "metadata.json").write_text(json.dumps(metadata, indent=2) + "\n")
        else:
            _save_without_predictor(explainer, staging / "explainer")
        write_manifest(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return dirs


def _save_without_predictor(explainer, path: Path) -> None:
    """alibi's saving, minus the predictor alibi 0.9.4 leaves in the explainer's sampler.

    ``save_explainer`` clears ``explainer.predictor`` but pickles ``samplers[0].predictor``: the whole
    fitted model and its bound method as Python 3.11 bytecode, which a Python 3.8 image cannot run.
    ``load_explainer(path, predictor)`` sets the sampler's predictor again.
    """
    from alibi.saving import save_explainer

    kept = [sampler.predictor for sampler in explainer.samplers]
    try:
        for sampler in explainer.samplers:
            sampler.predictor = None
        save_explainer(explainer, path)
    finally:
        for sampler, predictor in zip(explainer.samplers, kept):
            sampler.predictor = predictor


def build_serving_artefacts(n_rows: int | None = None, n_estimators: int = 50, seed: int = 0):
    """Train what the notebook serves, without the notebook: the RandomForest pipeline and its Anchors.

    For `make serve` before any notebook run, and for the tests (``n_rows`` a small sample: seconds).
    Returns (model, explainer, category_map) for ``export_artefacts``.
    """
    from alibi.explainers import AnchorTabular

    from tutorial.data import FEATURES, load_adult
    from tutorial.models import build_rf_pipeline

    train = load_adult("train", n_rows=n_rows, seed=seed)
    model = build_rf_pipeline(train.category_map, n_estimators=n_estimators, seed=seed).fit(train.X, train.y)
    explainer = AnchorTabular(model.predict, FEATURES, categorical_names=train.category_map, seed=seed)
    explainer.fit(train.X, disc_perc=(25, 50, 75))
    return model, explainer, train.category_map


# --- services --------------------------------------------------------------------------------------


@dataclass
class Service:
    name: str
    pid: int
    port: int
    metrics_port: int
    artefacts: str
    log: str
    started_here: bool = field(default=True, compare=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def predict_url(self) -> str:
        return f"{self.url}/api/v1.0/predictions"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def healthy(self, timeout: float = 2.0) -> dict | None:
        """The wrapper's health status (it names its artefacts), or None when it does not answer."""
        try:
            response = requests.get(f"{self.url}/health/status", timeout=timeout)
            return response.json().get("jsonData") if response.ok else None
        except (requests.RequestException, ValueError):
            return None


def free_port(preferred: int | None = None) -> int:
    """``preferred`` if nothing listens there on loopback, else a port the kernel hands out."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def serve_env_ready() -> bool:
    return SERVE_PYTHON.exists()


def start_service(
    step: Step,
    artefacts: Path | str | None = None,
    port: int | None = None,
    metrics_port: int | None = None,
    model_url: str | None = None,
    log: Path | str | None = None,
    workers: int | None = None,
    threads: int | None = None,
    n_jobs: int | None = None,
    wait: float = 60.0,
) -> Service:
    """Start one wrapper with seldon-core-microservice from .venv-serve, on 127.0.0.1, and wait until ready.

    The process leads its own process group (gunicorn's workers, the metrics server and Seldon's
    metrics manager are its children), so ``stop_service`` ends exactly that group.
    """
    if not serve_env_ready():
        raise RuntimeError(f"{SERVE_PYTHON} is missing: build the serving environment with `make serve-env`")
    artefacts = Path(artefacts or step.artefacts).resolve()
    port = port or free_port(step.port)
    metrics_port = metrics_port or free_port(step.metrics_port)
    log = Path(log or (RUN_DIR / f"{step.name}.log"))
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOAN_ARTEFACTS": str(artefacts),
        "PYTHONUNBUFFERED": "1",
        # A Jupyter kernel exports its inline plotting backend, which the serving env does not have.
        "MPLBACKEND": "Agg",
    }
    if model_url:
        env["LOAN_MODEL_URL"] = model_url
    command = [
        str(SERVE_PYTHON),
        "-m",
        "pipeline.local.seldon_loopback",
        step.interface,
        "--service-type",
        step.service_type,
        "--http-port",
        str(port),
        "--metrics-port",
        str(metrics_port),
        "--workers",
        str(workers or step.workers),
        "--threads",
        str(threads or step.threads),
    ]
    if n_jobs is not None:
        command += ["--parameters", json.dumps([{"name": "n_jobs", "value": str(n_jobs), "type": "INT"}])]
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=step.directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    service = Service(step.name, process.pid, port, metrics_port, str(artefacts), str(log))
    if wait:
        try:
            wait_ready(service, wait, process)
        except Exception:
            stop_service(service)
            raise
    return service


def wait_ready(service: Service, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Poll the health endpoint until the wrapper has loaded its artefacts, or fail with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.healthy(timeout=1.0) is not None:
            return
        if process is not None and process.poll() is not None:
            break
        time.sleep(0.2)
    tail = Path(service.log).read_text(errors="replace")[-3000:] if Path(service.log).exists() else ""
    raise RuntimeError(
        f"{service.name} did not become ready on port {service.port}; log {service.log}:\n{tail}"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child (exited, not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
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
            _reap(service.pid)
            if not _alive(service.pid) and not _group_alive(service.pid):
                return
            time.sleep(0.1)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


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
        if service is not None and (service.healthy() or {}).get("artefacts") == artefacts_digest(
            dirs[step.name]
        ):
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
        command += [
            "--gateway-endpoint",
            service.ingress,
            "--namespace",
            service.namespace,
            "--deployment",
            service.name,
        ]
    else:
        command += ["--endpoint", f"{LOOPBACK}:{service.port}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if not result.stdout.strip():
        raise RuntimeError(f"pipeline/client.py failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout)


# --- metrics ---------------------------------------------------------------------------------------


def loan_metric_lines(metrics_text: str) -> list[str]:
    """Our counters from the Prometheus text, with only the labels that matter (Seldon adds a dozen)."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        f'{s.name}{{gender="{s.labels["gender"]}",worker_id="{s.labels["worker_id"]}"}} {s.value:g}'
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
        if s.name in ("loan_applications_total", "loan_approvals_total")
    ]


def approval_rates(metrics_text: str):
    """Applications, approvals and approval rate per gender from the model's Prometheus metrics.

    Each gunicorn worker keeps its own counters (label ``worker_id``), so they are summed here.
    """
    import pandas as pd
    from prometheus_client.parser import text_string_to_metric_families

    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name in ("loan_applications_total", "loan_approvals_total"):
                key = (sample.labels["gender"], sample.name.split("_")[1])
                counts[key] = counts.get(key, 0.0) + sample.value
    table = (
        pd.Series(counts, dtype=float).unstack(fill_value=0.0)
        if counts
        else pd.DataFrame(columns=["applications", "approvals"])
    )
    table = table.reindex(columns=["applications", "approvals"], fill_value=0.0).astype(int)
    table.index.name = "gender"
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
        print(f"{s.name}: {s.predict_url}  metrics {s.metrics_url}  pid {s.pid}  log {s.log}")


def _record(service: Service) -> None:
    (RUN_DIR / f"{service.name}.pid").write_text(f"{service.pid}\n")
    (RUN_DIR / f"{service.name}.json").write_text(json.dumps(asdict(service), indent=2) + "\n")


def _stop_all(args) -> None:
    for step in (EXPLAINER, MODEL):
        pid_file, state = RUN_DIR / f"{step.name}.pid", RUN_DIR / f"{step.name}.json"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if _alive(pid):
                stop_service(Service(step.name, pid, 0, 0, "", ""))
                print(f"stopped {step.name} (pid {pid})")
            pid_file.unlink()
        state.unlink(missing_ok=True)


def _status(args) -> None:
    for step in (MODEL, EXPLAINER):
        service = running_service(step)
        print(
            f"{step.name}: "
            + (f"running, {service.predict_url}, pid {service.pid}" if service else "not running")
        )


def _export(args) -> None:
    dirs = export_artefacts(*build_serving_artefacts(n_rows=args.rows))
    for name, path in dirs.items():
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
