"""The review service's HTTP adapter: Flask (2.2, already in the serving environment with gunicorn) around
``ReviewCore``; each request in one straight line: limits, who, parse, the core, the answer.

- ``/api/...``: JSON (``/api/contest`` for applicants; ``/api/intake`` for the services, with the
  callers' token; the rest for reviewers, ``Authorization: Bearer <token>`` or the page's session);
- ``/``, ``/cases/<id>``: the reviewer's page, plain HTML forms, no script, no external asset;
- ``/metrics``, ``/health``.

Cross-site requests: the session cookie is SameSite=Strict and HttpOnly, every form carries a CSRF token
derived from the reviewer's token, and a POST whose Origin is another site is refused (403).
"""

import hmac
import json
import time

from flask import Flask, Response, redirect, request
from loan_service.errors import Refused
from loan_service.validation import parse_json
from prometheus_client import exposition
from werkzeug.exceptions import HTTPException

from . import pages
from .core import CITABLE
from .metrics import registry_of

COOKIE = "loan_review_session"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make the browser send "Origin: null" on our forms
    "Cache-Control": "no-store",
}


class ReviewApp:
    def __init__(self, core, reviewers, caller_token=""):
        self.core, self.reviewers, self.caller_token = core, reviewers, caller_token
        self.registry = registry_of(core)
        app = self.app = Flask("loan_review")
        app.config["MAX_CONTENT_LENGTH"] = core.settings.review_max_body_bytes
        layout = app.jinja_env.from_string(pages.LAYOUT)  # autoescaped: Flask escapes templates without a name
        self.templates = {n: app.jinja_env.from_string(getattr(pages, n)) for n in ("CASE", "LOGIN", "QUEUE", "STATUS")}
        self.layout = layout
        app.before_request(self.same_origin)
        app.after_request(self.secure)
        app.register_error_handler(Refused, self.refused)
        app.register_error_handler(HTTPException, self.http_error)
        for rule, view, methods in (
            ("/health", self.health, ["GET"]), ("/metrics", self.metrics, ["GET"]),
            ("/api/contest", self.contest, ["POST"]), ("/api/intake", self.intake, ["POST"]),
            ("/api/cases", self.api_queue, ["GET"]), ("/api/cases/<int:case_id>", self.api_case, ["GET"]),
            ("/api/cases/<int:case_id>/decision", self.api_decide, ["POST"]),
            ("/api/cases/<int:case_id>/notice", self.api_notice, ["GET"]),
            ("/api/stop", self.api_stop, ["GET", "POST"]),
            ("/", self.page_queue, ["GET"]), ("/cases/<int:case_id>", self.page_case, ["GET", "POST"]),
            ("/stop", self.page_stop, ["POST"]), ("/login", self.login, ["POST"]), ("/logout", self.logout, ["POST"]),
        ):  # fmt: skip
            app.add_url_rule(rule, view.__name__, view, methods=methods)

    # --- who is asking ---------------------------------------------------------------------------

    def same_origin(self):
        """A state change from another site is refused before anything else runs."""
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        origin = request.headers.get("Origin")
        if (origin and origin != request.host_url.rstrip("/")) or request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise Refused("cross-site request refused", 403, "LOAN_REVIEW_CROSS_SITE")
        return None

    def reviewer(self, changes=False):
        """The reviewer asking, else Refused 401; a change through the page's session needs its CSRF token."""
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            name = self.reviewers.by_token(auth[len("Bearer "):].strip())
        else:
            name = self.reviewers.by_session(request.cookies.get(COOKIE))
            if name and changes:
                given = request.headers.get("X-CSRF-Token") or request.form.get("csrf")
                if not self.reviewers.csrf_ok(name, given):
                    raise Refused("the form's CSRF token is missing or wrong: reload the page", 403,
                                  "LOAN_REVIEW_CSRF")  # fmt: skip
        if not name:
            raise Refused("a reviewer's credential is required", 401, "LOAN_REVIEW_UNAUTHORISED")
        return name

    def body(self):
        """The JSON body, at most ``review_max_body_bytes`` (413 before reading more, chunked bodies too)."""
        limit = self.core.settings.review_max_body_bytes
        data = b"" if (request.content_length or 0) > limit else request.stream.read(limit + 1)
        if (request.content_length or 0) > limit or len(data) > limit:
            raise Refused(f"the body is over the limit of {limit} bytes", 413, "LOAN_TOO_LARGE")
        return parse_json(data)

    # --- JSON API --------------------------------------------------------------------------------

    def health(self):
        switch = self.core.stop_switch()["on"]
        return {"service": self.core.service, "queue": self.core.depth(), "stop_switch": switch}

    def metrics(self):
        return Response(exposition.generate_latest(self.registry), content_type=exposition.CONTENT_TYPE_LATEST)

    def contest(self):
        return self.core.contest(self.body()), 201

    def intake(self):
        given = request.headers.get("Authorization", "")[len("Bearer "):]
        if not self.caller_token or not hmac.compare_digest(given.encode(), self.caller_token.encode()):
            raise Refused("intake takes the services' token", 401, "LOAN_REVIEW_UNAUTHORISED")
        message = self.body()
        if not isinstance(message, dict) or not isinstance(message.get("lines"), list):
            raise Refused('send {"lines": [audit lines]}', 400, "LOAN_BAD_INPUT")
        return self.core.intake(message["lines"])

    def api_queue(self):
        self.reviewer()
        limit = request.args.get("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            raise Refused("limit must be a whole number from 1 to 1000", 400, "LOAN_BAD_INPUT")
        return {"cases": self.core.queue(int(limit)), "open": self.core.depth()}

    def api_case(self, case_id):
        self.reviewer()
        return self.core.case(case_id)

    def api_decide(self, case_id):
        name = self.reviewer(changes=True)
        return self.core.decide(case_id, name, self.body())

    def api_notice(self, case_id):
        self.reviewer()
        return Response(self.core.notice(case_id), content_type="text/plain; charset=utf-8")

    def api_stop(self):
        if request.method == "GET":
            self.reviewer()
            return self.core.stop_switch()
        return self.core.set_stop_switch(self.reviewer(changes=True), self.body())

    # --- the reviewer's page ---------------------------------------------------------------------

    def page(self, template, name, status=200, **values):
        html = self.templates[template].render(layout=self.layout, reviewer=name, switch=self.core.stop_switch(),
                                               csrf=self.reviewers.csrf(name) if name else "", now=time.time(),
                                               **values)  # fmt: skip
        return Response(html, status, content_type="text/html; charset=utf-8")

    def page_queue(self):
        name = self.reviewer()
        return self.page("QUEUE", name, cases=self.core.queue(), depth=self.core.depth())

    def page_case(self, case_id):
        name = self.reviewer(changes=request.method == "POST")
        error = None
        if request.method == "POST":
            form = {"action": request.form.get("action"), "reason": request.form.get("reason"),
                    "codes": request.form.getlist("codes")}  # fmt: skip
            try:
                self.core.decide(case_id, name, form)
                return redirect(f"/cases/{case_id}", 303)
            except Refused as refused:
                if refused.status not in (400, 409):
                    raise
                error = refused
        case = self.core.case(case_id)
        notice = self.core.notice(case_id) if case["state"] == "closed" else None
        return self.page("CASE", name, error.status if error else 200, case=case, notice=notice, citable=CITABLE,
                         error=error.message if error else None)  # fmt: skip

    def page_stop(self):
        name = self.reviewer(changes=True)
        self.core.set_stop_switch(name, {"on": request.form.get("on") == "1", "reason": request.form.get("reason")})
        return redirect("/", 303)

    def login(self):
        name = self.reviewers.by_token(request.form.get("token", "").strip())
        if not name:
            raise Refused("unknown reviewer token", 401, "LOAN_REVIEW_UNAUTHORISED")
        response = redirect("/", 303)
        response.set_cookie(COOKIE, self.reviewers.session(name), httponly=True, samesite="Strict",
                            secure=request.scheme == "https", path="/")  # fmt: skip
        return response

    def logout(self):
        self.reviewer(changes=True)
        response = redirect("/", 303)
        response.delete_cookie(COOKIE, path="/", samesite="Strict", httponly=True)
        return response

    # --- answers ---------------------------------------------------------------------------------

    def secure(self, response):
        response.headers.update(SECURITY_HEADERS)
        return response

    def refused(self, error):
        if request.path.startswith("/api/") or request.path in ("/health", "/metrics"):
            body = json.dumps({"error": error.message, "reason": error.reason})
            return Response(body, error.status, content_type="application/json")
        template = "LOGIN" if error.status == 401 else "STATUS"
        return self.page(template, None, error.status, message=error.message)

    def http_error(self, error):
        messages = {413: f"the body is over the limit of {self.core.settings.review_max_body_bytes} bytes",
                    404: "no such page or endpoint", 405: f"{request.method} is not allowed here"}  # fmt: skip
        return self.refused(Refused(messages.get(error.code, error.description), error.code, "LOAN_BAD_INPUT"))
