"""First-party analytics (N5) and the monthly and fiscal-year reports (N10, N15)."""
