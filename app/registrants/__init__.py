"""Registrants (登録者): the people in the pool, their own data, their status."""
