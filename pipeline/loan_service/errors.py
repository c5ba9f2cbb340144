"""HTTP errors in Seldon's JSON shape: raised inside Flask, or answered directly from WSGI middleware."""

import json

from seldon_core.flask_utils import SeldonMicroserviceException
from werkzeug.wrappers import Response


def bad_request(message, status=400, reason="LOAN_BAD_INPUT"):
    return SeldonMicroserviceException(message, status_code=status, reason=reason)


def error_response(status, message, reason):
    body = json.dumps({"status": {"status": 1, "info": message, "code": -1, "reason": reason}})
    return Response(body, status=status, mimetype="application/json")
