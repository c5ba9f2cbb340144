"""The entry point of both KServe services, in the images, the manifests and ``make serve``:
``python -m loan_kserve.server model|explainer [--http_port N] [--workers N]``. It starts kserve 0.15.2's
``ModelServer`` with gRPC off (on by default, on 0.0.0.0, past every check) and ``rest.LoanRESTServer``:
127.0.0.1 with ``LOAN_LOOPBACK=1`` (KServe hard-codes 0.0.0.0), the bounds, refusals, liveness, metrics.
"""

import argparse
import os
import sys

from loan_service.metrics import use_directory
from loan_service.settings import Settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("service", choices=["model", "explainer"])
    parser.add_argument("--http_port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--grpc_port", type=int, default=8081)  # where KServe's gRPC would listen: it does not
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    use_directory()  # before kserve is imported: its metrics and ours count into the shared directory
    sys.argv = sys.argv[:1]  # kserve.model_server parses sys.argv at import: give it none of ours
    import kserve
    import kserve.model_server
    import kserve.protocol.rest.multiprocess.server as multiprocess
    from loan_kserve.models import LoanExplainer, LoanModel
    from loan_kserve.rest import LoanRESTServer, LoanServerProcess

    service = "loanclassifier" if args.service == "model" else "loanclassifier-explainer"
    LoanRESTServer.service, LoanRESTServer.settings = service, settings
    kserve.model_server.RESTServer = multiprocess.RESTServer = LoanRESTServer
    multiprocess.RESTServerProcess = LoanServerProcess
    model = (LoanModel if args.service == "model" else LoanExplainer)(settings, settings.artefacts_dir(
        os.path.join(os.getcwd(), "artefacts")))  # fmt: skip
    model.load()
    kserve.ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=args.workers, enable_grpc=False,
                       enable_docs_url=False).start([model])  # fmt: skip


if __name__ == "__main__":
    main()
