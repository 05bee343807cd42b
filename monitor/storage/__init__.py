"""The only module that speaks SQL. Callers own the transaction; nothing here commits."""
