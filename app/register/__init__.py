"""Who can view personal data (Nagasaki spec §9): the register generated from the live system."""
