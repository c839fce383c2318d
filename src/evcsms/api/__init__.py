"""REST API under /api/v1 (FastAPI): thin HTTP layer over services with pydantic schemas."""
