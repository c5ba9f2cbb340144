import importlib.util

# The KServe adapter's tests import kserve, which lives in .venv-kserve only (pipeline/loan_kserve/requirements.txt);
# from the notebook environment tests/test_kserve_serving.py runs them there.
collect_ignore = [] if importlib.util.find_spec("kserve") else ["test_kserve_adapter.py"]
