"""``python -m loan_review --port 9010``: the review service under gunicorn (one worker: SQLite has one
writer; threads for the reviewers and the scrapes)."""

import argparse
import json
import os
from pathlib import Path

DEFAULT_DB = Path(".run") / "review.db"
DEFAULT_REVIEWERS = Path(".run") / "reviewers"


def create_app():
    """Run in the worker: the core loaded, the reviewers read, the local intake started."""
    from loan_service.model import load_metadata
    from loan_service.settings import Settings

    from .core import ReviewCore
    from .follower import Follower
    from .reviewers import Reviewers
    from .web import ReviewApp

    settings = Settings.from_env()
    url = settings.review_db or "sqlite:///" + str(DEFAULT_DB.resolve())
    reviewers = Reviewers.from_file(settings.reviewers_file or DEFAULT_REVIEWERS)
    metadata = load_metadata(settings.artefacts)[0] if settings.artefacts else None
    core = ReviewCore(settings, url, metadata)
    core.load()
    Follower(core, settings.review_follow.split(",")).start()
    return ReviewApp(core, reviewers, settings.caller_token).app


def main(argv=None):
    from gunicorn.app.base import BaseApplication
    from loan_service.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9010)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    host = "127.0.0.1" if Settings.from_env().loopback else "0.0.0.0"

    class Server(BaseApplication):
        def load_config(self):
            options = {"bind": f"{host}:{args.port}", "workers": 1, "worker_class": "gthread",
                       "threads": args.threads, "timeout": 30, "graceful_timeout": 10,
                       "limit_request_field_size": 8190}  # fmt: skip
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return create_app()

    print(json.dumps({"service": "loan-review", "port": args.port, "pid": os.getpid()}), flush=True)
    Server().run()


if __name__ == "__main__":
    main()
