"""The Django admin: no escalation for admins who are not superusers, and every change on the
record (users, roles, scopes, groups, inline rows), reading the audit trail included.

Forms are posted as the browser would send them (tests/forms.py reads them from the page), with
a field changed here and there.
"""

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import mail

from cad.accounts.roles import ROLES
from cad.models import AuditEvent, UserScope
from duties.models import Officer, OfficerSkill, Shift, ShiftSkillRequirement, Team
from incidents.models import IncidentType, ResponsePlanItem
from tests.factories import make_skill, make_unit, make_unit_type
from tests.forms import form_data

pytestmark = pytest.mark.django_db
PASSWORD = "a-Strong-pass-42"


@pytest.fixture
def cast(geography, make_user):
    target = make_user("despatcher", bcu="CN", username="dora")
    target.email = "dora@example.org"
    target.save()
    root = User.objects.create_superuser("root", "root@example.org", PASSWORD)
    return {
        "admin": make_user("admin", username="ada"),
        "other_admin": make_user("admin", username="otto"),
        "target": target,
        "root": root,
        "geo": geography,
    }


def signed_in(client, user):
    client.force_login(user)
    return client


def group_id(name: str) -> str:
    return str(Group.objects.get(name=name).pk)


def roles_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def audit_rows(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id"))


def change_page(client, user):
    response = client.get(f"/admin/auth/user/{user.pk}/change/")
    assert response.status_code == 200
    return response, form_data(response, "user_form")


# --- no escalation -------------------------------------------------------------------------------


def test_admin_cannot_grant_superuser_staff_permissions_or_the_admin_role(client, cast):
    signed_in(client, cast["admin"])
    response, data = change_page(client, cast["target"])
    form = response.context["adminform"].form
    assert not {"is_superuser", "is_staff", "user_permissions"} & set(form.fields)
    offered = {g.name for g in form.fields["groups"].queryset}
    assert offered == set(ROLES) - {"admin"}
    # Posted anyway, as a hand-made request would: nothing of it takes.
    perm = Permission.objects.get(codename="change_user")
    data.update(is_superuser=["on"], is_staff=["on"], groups=[group_id("admin")],
                user_permissions=[str(perm.pk)])  # fmt: skip
    client.post(f"/admin/auth/user/{cast['target'].pk}/change/", data)
    target = User.objects.get(pk=cast["target"].pk)
    assert not target.is_superuser and not target.is_staff
    assert not target.user_permissions.exists() and roles_of(target) == {"despatcher"}
    # A role an admin may give does take, and is on the record with before and after.
    data.update(groups=[group_id("supervisor")])
    data.pop("is_superuser"), data.pop("is_staff"), data.pop("user_permissions")
    response = client.post(f"/admin/auth/user/{cast['target'].pk}/change/", data)
    assert response.status_code == 302
    assert roles_of(cast["target"]) == {"supervisor"}
    row = audit_rows(object_type="auth.user", object_id=str(cast["target"].pk), action="update")[-1]
    assert row.user == cast["admin"]
    assert row.changes["groups"] == [["despatcher"], ["supervisor"]]


def test_admin_cannot_change_own_roles_or_scope_nor_other_staff(client, cast):
    me, other = cast["admin"], cast["other_admin"]
    signed_in(client, me)
    for user in (me, other):
        _, data = change_page(client, user)
        data.update(groups=[group_id("supervisor")], is_active=[])
        response = client.post(f"/admin/auth/user/{user.pk}/change/", data)
        assert response.status_code == 403, user
        user.refresh_from_db()
        assert roles_of(user) == {"admin"} and user.is_active
    scope = UserScope.objects.get(user=me)
    response = client.post(f"/admin/cad/userscope/{scope.pk}/change/",
                           {"user": me.pk, "bcu": cast["geo"]["CN"].pk})  # fmt: skip
    assert response.status_code == 403
    scope.refresh_from_db()
    assert scope.bcu is None
    response = client.post(f"/admin/cad/userscope/{scope.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and UserScope.objects.filter(pk=scope.pk).exists()


def test_admin_cannot_set_anyone_elses_password(client, cast):
    target = cast["target"]
    signed_in(client, cast["admin"])
    url = f"/admin/auth/user/{target.pk}/password/"
    assert client.get(url).status_code == 403
    new = {"password1": "another-Pass-77", "password2": "another-Pass-77",
           "usable_password": "true"}  # fmt: skip
    assert client.post(url, new).status_code == 403
    target.refresh_from_db()
    assert target.check_password(PASSWORD)
    # Nor when making an account: it is created with no usable password; its owner sets one
    # through a reset link.
    response = client.get("/admin/auth/user/add/")
    assert not {"password1", "password2", "usable_password"} & set(
        response.context["adminform"].form.fields
    )
    data = form_data(response, "user_form")
    data.update(username=["newbie"], email=["newbie@example.org"],
                groups=[group_id("call_handler")], password1=["chosen-By-admin-1"],
                password2=["chosen-By-admin-1"])  # fmt: skip
    assert client.post("/admin/auth/user/add/", data).status_code == 302
    newbie = User.objects.get(username="newbie")
    assert not newbie.has_usable_password() and roles_of(newbie) == {"call_handler"}
    row = audit_rows(object_type="auth.user", object_id=str(newbie.pk))[0]
    assert row.action == "create" and row.changes["groups"] == [None, ["call_handler"]]


def test_admin_disables_an_account_and_sends_a_reset(client, cast):
    target = cast["target"]
    signed_in(client, cast["admin"])
    action = {"_selected_action": [target.pk, cast["other_admin"].pk]}
    response = client.post("/admin/auth/user/", {**action, "action": "send_password_reset"})
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [["dora@example.org"]]  # not to the other admin
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    sent = audit_rows(object_type="auth.user", object_id=str(target.pk))[-1]
    assert (sent.user, sent.changes) == (cast["admin"], {"password_reset": "sent"})

    response = client.post("/admin/auth/user/", {**action, "action": "disable_accounts"})
    assert response.status_code == 302
    target.refresh_from_db()
    cast["other_admin"].refresh_from_db()
    assert not target.is_active and cast["other_admin"].is_active
    off = audit_rows(object_type="auth.user", object_id=str(target.pk))[-1]
    assert (off.user, off.changes) == (cast["admin"], {"is_active": [True, False]})

    # The owner follows the link (signed out) and chooses a password; that is audited too.
    target.is_active = True
    target.save()
    owner = type(client)()
    form_page = owner.get(link, follow=True)
    assert form_page.status_code == 200 and b"new_password1" in form_page.content
    choose = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    chosen = {"new_password1": "owner-Chosen-99", "new_password2": "owner-Chosen-99"}
    done = owner.post(choose, chosen)
    assert done.status_code == 302
    target.refresh_from_db()
    assert target.check_password("owner-Chosen-99")
    changed = audit_rows(object_type="auth.user", object_id=str(target.pk))[-1]
    assert changed.user == target and changed.changes["password"] == ["***", "changed"]


# --- everything on the record ------------------------------------------------------------------


def test_superuser_changes_to_users_groups_and_scopes_are_audited(client, cast):
    target, root = cast["target"], cast["root"]
    signed_in(client, root)
    _, data = change_page(client, target)
    data.update(is_staff=["on"], groups=[group_id("supervisor")])
    data["scope-0-bcu"] = [str(cast["geo"]["AS"].pk)]
    assert client.post(f"/admin/auth/user/{target.pk}/change/", data).status_code == 302
    row = audit_rows(object_type="auth.user", object_id=str(target.pk), user=root)[-1]
    assert row.changes["is_staff"] == [False, True]
    assert row.changes["groups"] == [["despatcher"], ["supervisor"]]
    scope = audit_rows(object_type="cad.userscope", user=root)[-1]
    assert scope.action == "update" and scope.changes["bcu"][1].endswith("(AS)")

    url = f"/admin/auth/user/{target.pk}/password/"
    new = {"password1": "root-Chosen-123", "password2": "root-Chosen-123",
           "usable_password": "true"}  # fmt: skip
    assert client.post(url, new).status_code == 302
    row = audit_rows(object_type="auth.user", object_id=str(target.pk), user=root)[-1]
    assert row.changes == {"password": ["***", "changed"]}
    target.refresh_from_db()
    assert target.password not in str([r.changes for r in AuditEvent.objects.all()])

    group = Group.objects.get(name="call_handler")
    response = client.get(f"/admin/auth/group/{group.pk}/change/")
    data = form_data(response, "group_form")
    extra = Permission.objects.get(codename="delete_incident")
    data["permissions"] = [*data.get("permissions", []), str(extra.pk)]
    assert client.post(f"/admin/auth/group/{group.pk}/change/", data).status_code == 302
    row = audit_rows(object_type="auth.group", object_id=str(group.pk))[-1]
    added = set(row.changes["permissions"][1]) - set(row.changes["permissions"][0])
    assert added == {str(extra)}


def test_inline_edits_are_audited(client, cast):
    signed_in(client, cast["root"])
    make_unit_type("IRV")
    taser = make_skill("TASER")
    kind = IncidentType.objects.create(code="VIOL", name="Violence", category="crime",
                                       default_grade="I")  # fmt: skip
    url = f"/admin/incidents/incidenttype/{kind.pk}/change/"
    data = form_data(client.get(url), "incidenttype_form")
    data.update({"response_plan-0-skill": [str(taser.pk)], "response_plan-0-count": ["2"]})
    assert client.post(url, data).status_code == 302
    item = ResponsePlanItem.objects.get(incident_type=kind)
    created = audit_rows(object_type="incidents.responseplanitem", object_id=str(item.pk))
    assert [r.action for r in created] == ["create"] and created[0].changes["count"] == [None, 2]

    data = form_data(client.get(url), "incidenttype_form")
    data["response_plan-0-count"] = ["3"]
    assert client.post(url, data).status_code == 302
    data = form_data(client.get(url), "incidenttype_form")
    data["response_plan-0-DELETE"] = ["on"]
    assert client.post(url, data).status_code == 302
    rows = audit_rows(object_type="incidents.responseplanitem", object_id=str(item.pk))
    assert [r.action for r in rows] == ["create", "update", "delete"]
    assert rows[1].changes["count"] == [2, 3]
    assert rows[2].changes["inline_of"] == ["incidents.incidenttype", str(kind.pk)]

    officer = Officer.objects.create(collar_number="1CN", first_name="A", last_name="B",
                                     bcu=cast["geo"]["CN"])  # fmt: skip
    url = f"/admin/duties/officer/{officer.pk}/change/"
    data = form_data(client.get(url), "officer_form")
    data.update({"officer_skills-TOTAL_FORMS": ["1"], "officer_skills-0-skill": [str(taser.pk)]})
    assert client.post(url, data).status_code == 302
    skill_row = OfficerSkill.objects.get()
    rows = audit_rows(object_type="duties.officerskill", object_id=str(skill_row.pk))
    assert [r.action for r in rows] == ["create"]

    team = Team.objects.create(bcu=cast["geo"]["CN"], name="T")
    shift = Shift.objects.create(
        bcu=cast["geo"]["CN"], team=team, kind="early",
        starts_at="2026-12-01T07:00Z", ends_at="2026-12-01T15:00Z",
    )  # fmt: skip
    url = f"/admin/duties/shift/{shift.pk}/change/"
    data = form_data(client.get(url), "shift_form")
    data.update({"required_skills-TOTAL_FORMS": ["1"], "required_skills-0-skill": [str(taser.pk)],
                 "required_skills-0-count": ["1"]})  # fmt: skip
    assert client.post(url, data).status_code == 302
    requirement = ShiftSkillRequirement.objects.get()
    rows = audit_rows(object_type="duties.shiftskillrequirement", object_id=str(requirement.pk))
    assert [r.action for r in rows] == ["create"]


def test_browsing_the_audit_trail_in_the_admin_is_audited(client, cast):
    signed_in(client, cast["admin"])
    before = AuditEvent.objects.count()
    assert client.get("/admin/cad/auditevent/", {"action": "create"}).status_code == 200
    read = AuditEvent.objects.filter(object_type="cad.auditevent").latest("id")
    assert (read.user, read.action) == (cast["admin"], "read_personal")
    assert read.changes == {"via": "admin", "filters": {"action": "create"}}
    shown = AuditEvent.objects.exclude(object_type="cad.auditevent").first()
    assert client.get(f"/admin/cad/auditevent/{shown.pk}/change/").status_code == 200
    read = AuditEvent.objects.filter(object_type="cad.auditevent").latest("id")
    assert read.object_id == str(shown.pk) and read.changes["via"] == "admin"
    assert AuditEvent.objects.count() == before + 2


def test_a_deleted_units_audit_row_holds_its_position_not_the_derived_grid_squares(client, cast):
    """`lat_cell`/`lon_cell` are the database's function of lat/lon (resources/grid.py)."""
    signed_in(client, cast["root"])
    unit = make_unit(cast["geo"]["kentish"], callsign="CN99", lat=51.55, lon=-0.14)
    response = client.post(f"/admin/resources/unit/{unit.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    [row] = audit_rows(object_type="resources.unit", object_id=str(unit.pk))
    assert row.action == "delete"
    assert row.changes["lat"] == 51.55 and row.changes["lon"] == -0.14
    assert not {"lat_cell", "lon_cell"} & set(row.changes)
