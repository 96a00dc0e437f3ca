"""News with publish windows (S-A16) and YouTube links (S-A14) for the registrant top page."""
