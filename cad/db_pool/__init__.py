"""daphne's PostgreSQL backend: Django's, with its connections pooled (decision 0026)."""
