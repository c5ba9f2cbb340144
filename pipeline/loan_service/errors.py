"""The one error of the core: a request refused, with the HTTP status each adapter answers."""


class Refused(Exception):
    """A request refused: ``status`` (400, 413, 503...), ``message`` for the client, ``reason`` a stable code."""

    def __init__(self, message, status=400, reason="LOAN_BAD_INPUT"):
        super().__init__(message)
        self.message, self.status, self.reason = message, int(status), reason

    def body(self):
        """Seldon's error shape, which both stacks answer with."""
        return {"status": {"status": 1, "info": self.message, "code": -1, "reason": self.reason}}
