"""SQLAlchemy 2 async storage: tables, repositories, Alembic migrations; may import domain and sqlalchemy."""
