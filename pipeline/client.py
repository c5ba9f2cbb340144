"""Send applicants to the loan classifier with seldon-core's SeldonClient; prints the response as JSON.

SeldonClient lives in seldon-core, which cannot share the notebook's environment, so this runs with the
serving environment's Python (the notebook calls it that way):

    .venv-serve/bin/python pipeline/client.py --endpoint 127.0.0.1:9000 \\
        '[[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]]'

In a cluster, through the ingress (Istio here; Ambassador works the same with --gateway ambassador):

    .venv-serve/bin/python pipeline/client.py --gateway istio --gateway-endpoint localhost:8080 \\
        --namespace seldon --deployment loanclassifier '[[39, 5, 9, 4, 0, 1, 4, 1, 2174, 0, 40, 38]]'
"""

import argparse
import json
import sys

import numpy as np
from seldon_core.seldon_client import SeldonClient
from seldon_core.utils import seldon_message_to_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rows", help="applicants as JSON: a list of rows of 12 numbers")
    parser.add_argument("--endpoint", help="host:port of the model microservice itself (local runs)")
    parser.add_argument("--gateway", choices=["istio", "ambassador", "seldon"], default="istio")
    parser.add_argument("--gateway-endpoint", help="host:port of the cluster's ingress")
    parser.add_argument("--namespace", default="seldon")
    parser.add_argument("--deployment", default="loanclassifier")
    args = parser.parse_args()

    rows = np.array(json.loads(args.rows), dtype=float)
    if args.endpoint:
        client = SeldonClient(microservice_endpoint=args.endpoint)
        result = client.microservice(data=rows, method="predict", payload_type="ndarray")
    elif args.gateway_endpoint:
        client = SeldonClient(
            deployment_name=args.deployment,
            namespace=args.namespace,
            gateway=args.gateway,
            gateway_endpoint=args.gateway_endpoint,
        )
        result = client.predict(data=rows, payload_type="ndarray", transport="rest")
    else:
        parser.error("give --endpoint (local) or --gateway-endpoint (cluster)")
    response = seldon_message_to_json(result.response) if result.response is not None else None
    print(json.dumps({"success": result.success, "message": result.msg, "response": response}))
    sys.exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
