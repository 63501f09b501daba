"""Reads of the radio app's own rows."""

from django.db.models import Q

from radio.models import RadioMessage


def radio_message_audit_rows(incident_pk: int) -> Q | None:
    """Audit rows of the despatch messages sent for the incident's assignments."""
    ids = [
        str(i)
        for i in RadioMessage.objects.filter(assignment__incident_id=incident_pk).values_list(
            "id", flat=True
        )
    ]
    return Q(object_type="radio.radiomessage", object_id__in=ids) if ids else None
