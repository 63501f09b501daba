"""Domain errors: valid requests that the current state forbids. The API maps them to 409."""


class DomainError(Exception):
    code = "conflict"
    status = 409

    def __init__(self, detail: str, *, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class Conflict(DomainError):
    pass


class ServiceUnavailable(Exception):
    """A backing service is down and nothing was saved: 503 with Retry-After."""
