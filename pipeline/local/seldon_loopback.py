"""`seldon-core-microservice`, listening on 127.0.0.1 only: how local runs and tests start the wrappers.

Runs in the serving environment: ``.venv-serve/bin/python -m pipeline.local.seldon_loopback Model --service-type
MODEL --http-port 9000 --metrics-port 6000`` (from the step's directory, with the repo on PYTHONPATH).

Seldon Core 1.17.1 hard-codes ``0.0.0.0`` in the gunicorn options it builds for the REST and the metrics
servers (seldon_core/microservice.py) and reads no setting for the address; inside a pod that is what
you want. Here the same entry point (``seldon_core.microservice.main``, same arguments) runs after one
change: the gunicorn application class both servers use rewrites its bind address to 127.0.0.1.
gRPC would bind 0.0.0.0 as well, so it is off (``--grpc-workers 0``); the REST API is the one used locally.
"""

import sys

LOOPBACK = "127.0.0.1"


def bind_to_loopback() -> None:
    from seldon_core.gunicorn_utils import StandaloneApplication

    seldon_load_config = StandaloneApplication.load_config

    def load_config(self):
        seldon_load_config(self)
        self.cfg.set("bind", [f"{LOOPBACK}:{address.rsplit(':', 1)[1]}" for address in self.cfg.bind])

    StandaloneApplication.load_config = load_config


def main() -> None:
    args = sys.argv[1:]
    if "--debug" in args:
        sys.exit("--debug runs Flask's own server on 0.0.0.0: not available on loopback")
    if "--grpc-workers" not in args:
        args += ["--grpc-workers", "0"]
    elif args[args.index("--grpc-workers") + 1] != "0":
        sys.exit("gRPC binds 0.0.0.0 in Seldon Core 1.17.1: use --grpc-workers 0 on loopback")
    bind_to_loopback()
    from seldon_core.microservice import main as seldon_core_microservice

    sys.argv = ["seldon-core-microservice", *args]
    sys.exit(seldon_core_microservice())


if __name__ == "__main__":
    main()
