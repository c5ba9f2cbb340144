"""Who may act: the reviewers' credentials, a file of "name token" lines readable by its owner only (0600
locally; a Secret mounted with defaultMode 0440 and the pod's fsGroup in the cluster). A browser session is an HttpOnly,
SameSite=Strict cookie derived from the token; the page's forms carry a CSRF token derived from it too,
so a cross-site form cannot act with the cookie alone."""

import hashlib
import hmac
import os
import re
import stat

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MIN_TOKEN = 16


def _tag(token, purpose):
    return hmac.new(token.encode(), purpose.encode(), hashlib.sha256).hexdigest()


class Reviewers:
    def __init__(self, tokens):
        self.tokens = dict(tokens)  # name -> token

    @classmethod
    def from_file(cls, path):
        """The reviewers of ``path``; ValueError when it is readable by others or malformed."""
        mode = os.stat(path).st_mode
        # Group read is allowed: a Kubernetes Secret reaches a non-root user only through fsGroup (0440).
        if mode & (stat.S_IRWXO | stat.S_IWGRP | stat.S_IXGRP):
            raise ValueError(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod 600 it")
        tokens = {}
        with open(path) as f:
            for number, text in enumerate(f, 1):
                if not text.strip() or text.startswith("#"):
                    continue
                parts = text.split()
                if len(parts) != 2 or not NAME.match(parts[0]) or len(parts[1]) < MIN_TOKEN:
                    raise ValueError(f"{path}:{number}: expected 'name token' (a token of {MIN_TOKEN}+ characters)")
                tokens[parts[0]] = parts[1]
        if not tokens:
            raise ValueError(f"{path} names no reviewer")
        return cls(tokens)

    def by_token(self, token):
        """The reviewer whose token this is, else None (every token compared in constant time)."""
        found = None
        for name, known in self.tokens.items():
            if hmac.compare_digest(known.encode(), (token or "").encode()):
                found = name
        return found

    def session(self, name):
        return f"{name}.{_tag(self.tokens[name], 'session')}"

    def by_session(self, cookie):
        name, _, tag = (cookie or "").rpartition(".")
        token = self.tokens.get(name)
        return name if token and hmac.compare_digest(tag, _tag(token, "session")) else None

    def csrf(self, name):
        return _tag(self.tokens[name], "csrf")[:32]

    def csrf_ok(self, name, value):
        return hmac.compare_digest(self.csrf(name), value or "")
