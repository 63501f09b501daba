"""Login everywhere: every page needs a signed-in user unless it says otherwise."""

from django.contrib.auth.middleware import LoginRequiredMiddleware


class LoginRequiredEverywhere(LoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, minus the API.

    API clients authenticate per request (token or session) inside DRF, which answers 401/403
    itself, so redirecting them to a login page would be wrong.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
