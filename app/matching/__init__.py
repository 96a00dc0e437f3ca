"""Explainable matching (S-A13): hard filters in SQL, a score whose every part is shown, and the pipeline."""
