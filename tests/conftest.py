"""Shared by every environment that runs pytest (.venv, .venv-serve, .venv-kserve): stdlib and pytest only here.

tests/fast/ runs in the serving environments (`make test-fast`), so the notebook environment's run leaves it out;
naming it on the command line (as the Makefile does) collects it all the same.
"""

collect_ignore = ["fast"]
