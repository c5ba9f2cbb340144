"""Serving the pipeline steps locally with seldon-core-microservice on 127.0.0.1 (make serve, notebook, tests)."""
