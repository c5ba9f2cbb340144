"""The body limits every adapter applies before parsing: at most ``max_body_bytes`` (413), whole within
``read_timeout`` seconds (408, the adapter's clock), as long as its Content-Length says (400)."""

from .errors import Refused


def too_large(settings):
    return Refused(f"the body is over the limit of {settings.max_body_bytes} bytes", 413, "LOAN_TOO_LARGE")


def slow_body(settings):
    return Refused(f"the body did not arrive within {settings.read_timeout:g} s", 408, "LOAN_TIMEOUT")


def expected_length(content_length, settings):
    """The Content-Length as a number (None when absent), refused when it is not one or over the limit."""
    if content_length in (None, ""):
        return None
    try:
        length = int(content_length)
    except ValueError:
        raise Refused("Content-Length is not a number") from None
    if length > settings.max_body_bytes:
        raise too_large(settings)
    return length


def check_body(body, expected, settings):
    """``body`` as read (at most the limit + 1 bytes when no length was given), or refused."""
    if len(body) > settings.max_body_bytes:
        raise too_large(settings)
    if expected is not None and len(body) < expected:
        raise Refused("the body is shorter than its Content-Length")
    return body
