"""The loan services on KServe 0.15.2: the core (``loan_service``) behind the Open Inference Protocol."""
