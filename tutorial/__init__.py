"""Plumbing for the explainability-and-bias notebook: data loading, model builders, figures."""
