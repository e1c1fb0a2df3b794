"""Alembic migrations of the API database; applied by `loomsight serve` (see api/migrate.py)."""
