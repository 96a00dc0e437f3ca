"""The registrant portal: top page, login, and the registrant's own data."""
