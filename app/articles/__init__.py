"""Articles (N6) in Markdown, sanitised, with uploaded images; drafts, scheduled publishing and categories."""
