"""Surveys (N4) with a builder, targeting and results, and the built-in satisfaction rating (S5)."""
