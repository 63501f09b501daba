"""Every page of a training instance carries the banner; no live page does (decision 0016)."""

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

# (who, page): every kind of page there is: the desks' screens, the supervisors', the admin,
# the API docs and the sign-in page.
PAGES = [
    (None, "/accounts/login/"),
    ("handler", "/calls/"),
    ("despatcher_all", "/board/"),
    ("supervisor_all", "/roster/"),
    ("supervisor_all", "/audit/"),
    ("supervisor_all", "/replay/"),
    ("admin", "/admin/"),
    ("handler", "/api/docs/"),
    ("handler", "/accounts/preferences/"),
]


@pytest.mark.parametrize(("who", "path"), PAGES)
@pytest.mark.parametrize("training", [True, False])
def test_the_banner_is_on_training_pages_only(geography, cast, who, path, training):
    client = Client()
    if who:
        client.force_login(getattr(cast, who))
    with override_settings(TRAINING=training):
        page = client.get(path)
    assert page.status_code == 200, path
    assert ("training-banner" in page.content.decode()) == training
