"""CSV import of registrant records, for sites whose e-application system only exports files."""
