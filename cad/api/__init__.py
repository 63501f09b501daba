"""Plumbing every app's REST API shares: the error shape (`errors`), `Idempotency-Key` replay
(`idempotency`), strict input fields (`fields`), the OpenAPI schema class (`schema`), the
reference-data endpoints (`reference`) and the `/api/v1/` URL list (`urls`)."""
