"""Principal reasons for a rejection and the adverse-action notice: numpy and the standard library only,
so the notebook imports them without any serving code, and the explainer service serves them.

- ``reasons``: the reference set and each rejection's principal reasons (``Reasons``);
- ``reason_codes``: the sentence of each scored feature and the bases never cited;
- ``notice``: the audit record of a decision with reasons and the notice rendered from it;
- ``fidelity``: do the top-ranked features move the model the way the ranking says?

Python 3.8 compatible (the s2i image).
"""
