"""Job postings (求人, S-A12): what a school needs, published to registrants within a window."""
