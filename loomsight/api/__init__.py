"""The API service: ingest, rates, rolls, review, models (FastAPI + SQLAlchemy)."""
