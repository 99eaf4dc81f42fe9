"""A small shop as SQLAlchemy models: `models_v1` and its evolution `models_v2`."""
