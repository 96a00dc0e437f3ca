"""Staff users (管理者): roles, permissions, accounts."""
