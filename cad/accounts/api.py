"""`GET/PUT /api/v1/me/preferences/`: the signed-in user's screen settings (an extension of
api.md, documented in docs/accessibility.md). Kept apart from `/api/v1/me/`, which belongs to
the officers' app."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cad.accounts import services
from cad.accounts.preferences import DEFAULT_KEYS, DEFAULTS, THEMES, key_map_problems
from cad.accounts.selectors import user_preferences
from cad.api.fields import StrictBooleanField, StrictChoiceField
from cad.audit.trail import source_of


class KeyMapField(serializers.DictField):
    """action → key; an action left out keeps its default key."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(trim_whitespace=False), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        problems = key_map_problems(data)
        if problems:
            raise serializers.ValidationError(problems)
        return dict(data)


class PreferencesApi(APIView):
    """Any signed-in user: their own settings for the screens, read and replaced.

    PUT replaces the whole set: a field left out goes back to its default, and `keys` names
    only the shortcuts to move (the rest keep their default keys). Every change is audited.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="Preferences")
    class OutputSerializer(serializers.Serializer):
        shortcuts = serializers.BooleanField(help_text="single-key shortcuts on (WCAG 2.1.4)")
        confirm_despatch = serializers.BooleanField(
            help_text="a despatch made by one key waits for Enter"
        )
        theme = serializers.ChoiceField(choices=list(THEMES))
        keys = serializers.DictField(
            child=serializers.CharField(), help_text=f"action → key: {', '.join(DEFAULT_KEYS)}"
        )
        updated_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_serializer(component_name="PreferencesInput")
    class InputSerializer(serializers.Serializer):
        shortcuts = StrictBooleanField(required=False, default=DEFAULTS["shortcuts"])
        confirm_despatch = StrictBooleanField(required=False, default=DEFAULTS["confirm_despatch"])
        theme = StrictChoiceField(choices=list(THEMES), required=False, default=DEFAULTS["theme"])
        keys = KeyMapField(required=False, default=dict)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response(user_preferences(user=request.user))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_preferences_set(
            user=request.user, by=request.user, source=source_of(request), **data.validated_data
        )
        return Response(user_preferences(user=request.user))
