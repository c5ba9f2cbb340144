"""The review service: a person reviews what the model must not decide alone (contest, held and
borderline decisions, the stop switch), confirms or overrides with a written reason.

- ``core``: ``ReviewCore`` (intake, contest, queue, case, decide, notice, stop switch), plain Python;
- ``store``: the cases in one database (``LOAN_REVIEW_DB``, sqlite3), each change one transaction with
  its audit line; ``follower``: the local intake from the services' audit files;
- ``reviewers``: the reviewers' credentials (0600 file), session and CSRF tokens;
- ``web`` and ``pages``: the Flask adapter and the reviewer's page; ``metrics``: Prometheus;
- ``python -m loan_review``: the service under gunicorn. Nothing runs at import; Python 3.8 compatible.
"""
