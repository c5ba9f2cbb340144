"""The loan services on KServe 0.15.2: the same core (``loan_service``) behind the Open Inference Protocol.

- ``models``: ``LoanModel`` (V2 ``infer``) and ``LoanExplainer`` (V1 ``:explain``), ``kserve.Model``s
  that call ``ModelCore``/``ExplainerCore`` once per request; ``V2ModelClient``, the explainer's client;
- ``rest``: KServe's REST server with the bounds (413, 408), JSON without duplicated keys, the core's
  refusals as 4xx, the liveness check and every worker's metrics;
- ``server``: the entry point (``python -m loan_kserve.server model|explainer``), gRPC off.
"""
