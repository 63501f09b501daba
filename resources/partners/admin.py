"""Partner agencies in the admin (audited): name, kind, endpoint, credentials, what each may
receive. The outbound token is typed into a write-only field and stored Fernet-encrypted (the
TOTP keys, cad/accounts/totp_keys.py); the trail records that it changed, never its value."""

from django import forms
from django.contrib import admin

from cad.accounts.totp_keys import secret_encrypt
from cad.audit.admin_base import AuditedAdmin, ReadOnlyAdmin
from resources.partners.models import PartnerAgency, PartnerDelivery


class PartnerAgencyForm(forms.ModelForm):
    endpoint = forms.URLField(
        required=False, max_length=300, assume_scheme="https",
        help_text="https URL that receives our EIDO documents",
    )  # fmt: skip
    token = forms.CharField(
        required=False, strip=True, max_length=500,
        widget=forms.PasswordInput(render_value=False),
        help_text="Bearer token for the partner's endpoint. Leave empty to keep the stored one.",
    )  # fmt: skip
    clear_token = forms.BooleanField(required=False, help_text="Remove the stored token.")

    class Meta:
        model = PartnerAgency
        fields = ["code", "name", "kind", "agency_id", "endpoint", "user", "secret_env",
                  "may_receive_personal", "may_receive_log", "active"]  # fmt: skip

    def clean_token(self) -> str:
        token = self.cleaned_data.get("token", "")
        if token and not token.isascii():
            raise forms.ValidationError("Tokens are ASCII.")
        return token

    def save(self, commit: bool = True) -> PartnerAgency:
        partner = super().save(commit=False)
        if self.cleaned_data.get("clear_token"):
            partner.secret_encrypted = ""
        elif token := self.cleaned_data.get("token"):
            partner.secret_encrypted = secret_encrypt(token)
        if commit:
            partner.save()
        return partner


@admin.register(PartnerAgency)
class PartnerAgencyAdmin(AuditedAdmin):
    form = PartnerAgencyForm
    audit_secret_fields = ("secret_encrypted",)
    list_display = ["code", "name", "kind", "agency_id", "endpoint", "may_receive_personal",
                    "active", "has_token"]  # fmt: skip
    list_filter = ["kind", "active"]
    search_fields = ["code", "name", "agency_id"]

    @admin.display(boolean=True, description="token")
    def has_token(self, obj: PartnerAgency) -> bool:
        return bool(obj.secret_encrypted or obj.secret_env)


@admin.register(PartnerDelivery)
class PartnerDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["queued_at", "share", "state", "attempts", "last_error", "alerted_at"]
    list_filter = ["state"]
    # The document may hold callers' details: it is not shown here.
    exclude = ["document"]
