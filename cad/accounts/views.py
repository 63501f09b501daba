"""Sign-in pages: password (with lockout), the second factor, the idle check, API tokens."""

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, parsers, renderers, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts import lockout, second_factor, services, totp
from cad.accounts import tokens as api_tokens
from cad.accounts.authentication import TokenAuthentication
from cad.accounts.preferences import SHORTCUTS, THEMES, key_map_problems
from cad.accounts.selectors import user_preferences
from cad.accounts.sessions import idle_seconds_left, record_activity
from cad.api.parsers import JSONParser
from cad.api.throttles import TokenEndpointThrottle
from cad.audit.trail import audit_record, source_of


class LoginForm(AuthenticationForm):
    """Django's form; a locked (username, address) gets the lockout message instead.

    The message is the same for real and unknown usernames (failures count for both), so it
    tells nobody which accounts exist.
    """

    def clean(self):
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "cad_login_locked", False):
                raise ValidationError(lockout.LOCKED_MESSAGE, code="locked") from None
            raise


def _next_from(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    # FormView would take PUT as POST; the page is a form, nothing more.
    http_method_names = ["get", "post", "head", "options"]

    def form_valid(self, form):
        response = super().form_valid(form)  # logs in; the session is pending if 2FA is due
        user = form.get_user()
        source = source_of(self.request)
        if second_factor.requires_second_factor(user):
            lockout.login_success_record(user=user, source=source, outcome="password_ok")
            return redirect(_with_next("second_factor", self.get_redirect_url()))
        lockout.login_success_record(user=user, source=source)
        return response


def _locked_out(request):
    """End a pending session whose pair is locked, and say so on the login page."""
    logout(request)
    messages.error(request, lockout.LOCKED_MESSAGE)
    return redirect("login")


def _done(request):
    return redirect(_next_from(request) or resolve_url(settings.LOGIN_REDIRECT_URL))


@require_http_methods(["GET", "POST"])
def second_factor_verify(request):
    """Ask a signed-in (password only) supervisor or admin for the code from their app."""
    user = request.user
    if not second_factor.requires_second_factor(user) or second_factor.session_is_verified(
        request.session, user
    ):
        return _done(request)
    if second_factor.confirmed_device(user) is None:
        return redirect(_with_next("second_factor_enrol", _next_from(request)))
    error = ""
    if request.method == "POST":
        source = source_of(request)
        if lockout.lockout_until(username=user.username, source=source):
            return _locked_out(request)
        code = request.POST.get("code", "")
        if second_factor.code_verify(user=user, code=code, source=source):
            second_factor.session_mark_verified(request.session, user)
            return _done(request)
        if lockout.lockout_until(username=user.username, source=source):
            return _locked_out(request)
        error = "That code is not right, or was already used. Wait for the next code and try again."
    return render(
        request,
        "registration/second_factor.html",
        {"error": error, "next": _next_from(request)},
        status=400 if error else 200,
    )


def _qr_svg(uri: str) -> str:
    """The otpauth:// link as a QR code, inline SVG (segno).

    Inline SVG needs nothing from the Content-Security-Policy: no script, no style attribute
    (segno draws with a `stroke` presentation attribute), no image source. The markup is made
    here from the URI alone, so it is safe to put in the page as it is.
    """
    svg = segno.make(uri, error="m").svg_inline(
        scale=5, svgclass="qr-code", lineclass=None, title="QR code: scan it with the app"
    )
    return svg.replace("<svg ", '<svg role="img" aria-label="QR code to scan with the app" ', 1)


@never_cache
@require_http_methods(["GET", "POST"])
def second_factor_enrol(request):
    """First sign-in of a supervisor or admin: show a new secret, confirm it with one code, then
    show ten recovery codes, once."""
    user = request.user
    if not second_factor.requires_second_factor(user):
        return _done(request)
    if second_factor.confirmed_device(user) is not None:
        return redirect(_with_next("second_factor", _next_from(request)))
    device = second_factor.device_enrol_start(user=user)
    error = ""
    if request.method == "POST":
        source = source_of(request)
        if lockout.lockout_until(username=user.username, source=source):
            return _locked_out(request)
        code = request.POST.get("code", "")
        recovery_codes = second_factor.device_confirm(user=user, code=code, source=source)
        if recovery_codes is not None:
            second_factor.session_mark_verified(request.session, user)
            messages.success(request, "Two-factor sign-in is set up.")
            # Shown this once: only their hashes are kept.
            return render(
                request,
                "registration/recovery_codes.html",
                {
                    "codes": recovery_codes,
                    "next": _next_from(request) or resolve_url(settings.LOGIN_REDIRECT_URL),
                },
            )
        if lockout.lockout_until(username=user.username, source=source):
            return _locked_out(request)
        error = "That code is not right. Check the app shows Beacon's entry and try the next code."
    secret = second_factor.device_secret(device)
    uri = totp.provisioning_uri(secret, account=user.username)
    context = {
        "error": error,
        "next": _next_from(request),
        "secret": secret,
        # Grouped in fours: easier to type into an app by hand.
        "secret_grouped": " ".join(secret[i : i + 4] for i in range(0, 32, 4)),
        "uri": uri,
        "qr_svg": mark_safe(_qr_svg(uri)),  # noqa: S308  (made by segno from our own URI)
    }
    return render(
        request, "registration/second_factor_enrol.html", context, status=400 if error else 200
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def idle_status(request):
    """GET (a background check): seconds left. POST ("stay signed in"): counts as activity."""
    warning = settings.SESSION_IDLE_WARNING_SECONDS
    if not request.user.is_authenticated:
        return JsonResponse({"remaining": 0, "warning": warning, "signed_in": False})
    if request.method == "POST":
        record_activity(request.session)
    remaining = max(0, int(idle_seconds_left(request.session)))
    return JsonResponse({"remaining": remaining, "warning": warning, "signed_in": True})


class TokenSerializer(AuthTokenSerializer):
    otp = serializers.CharField(
        required=False,
        write_only=True,
        label="Code from the authenticator app",
        help_text="Required for supervisors and admins (their second factor); a recovery code "
        "is accepted in its place.",
    )


class TokenView(APIView):
    """`POST {"username", "password"}` → `{"token", "expiry"}`; supervisors and admins add `"otp"`.

    Behind the same lockout as the login page (the backend counts the failures); a locked
    pair gets 429 with the same message whether or not the user exists. The token expires after
    TOKEN_TTL_SECONDS and ends earlier at logout or when the user's password, roles, scope or
    active flag change (cad/accounts/tokens.py).
    """

    # Credentials are in the body; a session or an old token has no say here.
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = (TokenEndpointThrottle,)
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONParser)
    renderer_classes = (renderers.JSONRenderer,)
    serializer_class = TokenSerializer

    def get_serializer(self, *args, **kwargs):
        kwargs["context"] = {"request": self.request, "format": self.format_kwarg, "view": self}
        return self.serializer_class(*args, **kwargs)

    @extend_schema(
        request=TokenSerializer,
        responses=inline_serializer(
            "TokenIssued",
            {"token": serializers.CharField(), "expiry": serializers.DateTimeField()},
        ),
    )
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except serializers.ValidationError:
            if getattr(request, "cad_login_locked", False):
                return Response(
                    {"detail": lockout.LOCKED_MESSAGE, "code": "locked"},
                    status=status.HTTP_429_TOO_MANY_REQUESTS,
                )
            raise
        user = serializer.validated_data["user"]
        source = source_of(request)
        if second_factor.requires_second_factor(user):
            if second_factor.confirmed_device(user) is None:
                raise serializers.ValidationError(
                    {"otp": ["Set up two-factor sign-in in the web app first."]}
                )
            if not second_factor.code_verify(
                user=user, code=serializer.validated_data.get("otp", ""), source=source
            ):
                if lockout.lockout_until(username=user.username, source=source):
                    return Response(
                        {"detail": lockout.LOCKED_MESSAGE, "code": "locked"},
                        status=status.HTTP_429_TOO_MANY_REQUESTS,
                    )
                raise serializers.ValidationError({"otp": ["Missing, wrong or already used."]})
        else:
            lockout.login_success_record(user=user, source=source)
        token, key = api_tokens.token_issue(user=user, source=source)
        return Response({"token": key, "expiry": token.expiry})


token_view = TokenView.as_view()


@method_decorator(login_not_required, name="dispatch")  # dispatch is overridden below
class PasswordSetView(auth_views.PasswordResetConfirmView):
    """The link an admin's "send a reset" action mails: the owner chooses their password.

    Django's view (single-use token, the password validators); the change is audited as the
    owner's own, in the same transaction. It does not sign in: the second factor still applies.
    """

    template_name = "registration/password_set.html"
    http_method_names = ["get", "post", "head", "options"]

    def dispatch(self, *args, **kwargs):
        # Django's view checks the link before the method; the method comes first here.
        if (self.request.method or "").lower() not in self.http_method_names:
            return self.http_method_not_allowed(self.request, *args, **kwargs)
        return super().dispatch(*args, **kwargs)

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            audit_record(
                user=form.user, action="update", obj=form.user, source=source_of(self.request),
                changes={"password": ["***", "changed"], "via": "reset link"},
            )  # fmt: skip
        return response


class PasswordSetDoneView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_set_done.html"


@require_http_methods(["GET", "POST"])
def preferences_page(request):
    """Any signed-in user: shortcuts on or off and their keys, despatch confirmation, theme.

    A plain form, so it works without JavaScript; the board and the API
    (`/api/v1/me/preferences/`) change the same settings.
    """
    current = user_preferences(user=request.user)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        posted = {
            "shortcuts": request.POST.get("shortcuts") == "on",
            "confirm_despatch": request.POST.get("confirm_despatch") == "on",
            "theme": request.POST.get("theme", ""),
            "keys": {s.action: request.POST.get(f"key-{s.action}", "") for s in SHORTCUTS},
        }
        errors = key_map_problems(posted["keys"])
        if posted["theme"] not in THEMES:
            errors["theme"] = [f"Choose one of: {', '.join(THEMES.values())}."]
        if not errors:
            services.user_preferences_set(
                user=request.user, by=request.user, source=source_of(request), **posted
            )
            messages.success(request, "Settings saved.")
            return redirect("preferences")
        current = {**current, **posted}
    context = {
        "prefs": current,
        "themes": THEMES.items(),
        "errors": errors,
        "shortcuts": [
            {
                "action": s.action,
                "does": s.does,
                "key": current["keys"][s.action],
                "default": s.key,
                "errors": errors.get(s.action, []),
            }
            for s in SHORTCUTS
        ],  # fmt: skip
    }
    return render(request, "accounts/preferences.html", context, status=400 if errors else 200)


class TokenLogoutView(APIView):
    """`POST` with `Authorization: Token <key>` → 204: that token ends. `{"all": true}` ends
    every token of the user (a lost device)."""

    authentication_classes = (TokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    def initial(self, request, *args, **kwargs):
        # Another method is a 405 whoever asks: the token is looked at only for a real logout.
        if request.method not in ("POST", "OPTIONS"):
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=inline_serializer(
            "TokenLogout", {"all": serializers.BooleanField(required=False, default=False)}
        ),
        responses={204: None},
    )
    def post(self, request, *args, **kwargs):
        everything = request.data.get("all") is True if hasattr(request.data, "get") else False
        source = source_of(request)
        if everything:
            api_tokens.tokens_revoke_all(
                user_id=request.user.pk, reason="logout", by=request.user, source=source
            )
        else:
            api_tokens.token_revoke(token=request.auth, by=request.user, source=source)
        return Response(status=status.HTTP_204_NO_CONTENT)


token_logout_view = TokenLogoutView.as_view()
