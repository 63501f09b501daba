"""Accounts' own table: a user's settings for the screens (`cad.accounts.preferences`).

Part of the `cad` app (imported by cad/models.py); users, roles and scope are Django's `User`,
its groups and `cad.models.UserScope`.
"""

from django.conf import settings
from django.db import models

from cad.accounts.preferences import HIGH_CONTRAST, STANDARD, THEMES


class UserPreferences(models.Model):
    """One row per user who changed anything; no row means every default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    shortcuts = models.BooleanField(default=True, help_text="single-key shortcuts on the board")
    keys = models.JSONField(
        default=dict, blank=True, help_text="action → key, only where changed from the default"
    )
    confirm_despatch = models.BooleanField(
        default=True, help_text="a despatch made by one key waits for Enter"
    )
    theme = models.CharField(
        max_length=20, default=STANDARD, choices=[(k, v) for k, v in THEMES.items()]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "cad"
        verbose_name_plural = "user preferences"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(theme__in=[STANDARD, HIGH_CONTRAST]), name="preferences_theme"
            )
        ]

    def __str__(self):
        return f"Preferences of {self.user}"
