"""Alembic migrations for the SQL store, shipped inside the package (run by ``wirewatch db upgrade``)."""
