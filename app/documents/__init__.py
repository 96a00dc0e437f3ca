"""Forms and reports (様式・帳票, S-A8/A9): the application form filled into an uploaded template, lists, reports."""
