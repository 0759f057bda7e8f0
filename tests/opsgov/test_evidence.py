"""Evidence cannot be deleted by anyone, superusers included: not in the admin, the API, a page or a shell."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import ProtectedError
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.models import ActionItem, Incident, Integration, RawEvent, TimelineEvent
from incidents.reviews import services as reviews
from opsgov.evidence import EvidenceProtectedError, evidence_delete_permissions, evidence_deletion, evidence_models
from opsgov.models import GateEvaluation, GateStatus, MetricSnapshot
from opsgov.roles import ALL_ROLES

from ..incidents.factories import IncidentFactory, IntegrationFactory

pytestmark = pytest.mark.django_db

EXPECTED_EVIDENCE = {
    "auditlog.LogEntry",
    "opsgov.AuditSeal",
    "opsgov.GateEvaluation",
    "opsgov.MetricSnapshot",
    "opsgov.GateWaiver",
    "incidents.Incident",
    "incidents.RawEvent",
    "incidents.TimelineEvent",
    "incidents.PostIncidentReview",
    "incidents.ActionItem",
}


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw")


def raw_event(integration: Integration) -> RawEvent:
    return RawEvent.objects.create(integration=integration, dedup_key="k", action="trigger", payload={})


def test_the_evidence_models_are_registered() -> None:
    assert {model._meta.label for model in evidence_models()} >= EXPECTED_EVIDENCE


def refused(delete: Callable[[], object]) -> None:
    """The delete raises, and (in its own savepoint, as a caller's transaction would be) changes nothing."""
    with pytest.raises(EvidenceProtectedError, match="is evidence and cannot be deleted"), transaction.atomic():
        delete()


def test_deleting_evidence_from_a_shell_is_refused_instance_queryset_and_cascade() -> None:
    incident = IncidentFactory.create()
    assert TimelineEvent.objects.filter(incident=incident).exists()
    refused(incident.delete)
    refused(Incident.objects.all().delete)
    refused(TimelineEvent.objects.filter(incident=incident).delete)
    evaluation = GateEvaluation.objects.create(gate="g", status=GateStatus.PASS, reason="ok")
    refused(GateEvaluation.objects.filter(pk=evaluation.pk).delete)
    with pytest.raises(ProtectedError), transaction.atomic():  # sealed entries: their seals protect them first
        LogEntry.objects.all().delete()
    # A cascade from a record that is not evidence: the integration's raw events refuse.
    integration = IntegrationFactory.create()
    raw_event(integration)
    refused(Integration.objects.filter(pk=integration.pk).delete)
    assert Incident.objects.filter(pk=incident.pk).exists()
    assert TimelineEvent.objects.filter(incident=incident).exists()
    assert RawEvent.objects.filter(integration=integration).exists()
    assert GateEvaluation.objects.filter(pk=evaluation.pk).exists()


def test_the_retention_path_may_delete() -> None:
    evaluation = GateEvaluation.objects.create(gate="g", status=GateStatus.PASS, reason="ok")
    with evidence_deletion("test"):
        evaluation.delete()
    assert not GateEvaluation.objects.filter(pk=evaluation.pk).exists()
    # ...only inside the block.
    again = GateEvaluation.objects.create(gate="g", status=GateStatus.PASS, reason="ok")
    refused(again.delete)


def test_no_admin_offers_deleting_evidence_to_a_superuser(root: User) -> None:
    request = RequestFactory().get("/admin/")
    request.user = root
    for model in evidence_models():
        if admin.site.is_registered(model):
            model_admin = admin.site.get_model_admin(model)
            assert not model_admin.has_delete_permission(request), model._meta.label
            assert "delete_selected" not in model_admin.get_actions(request), model._meta.label


def test_a_superuser_cannot_delete_evidence_through_the_admin(root: User, client: Client) -> None:
    incident = IncidentFactory.create()
    evaluation = GateEvaluation.objects.create(gate="g", status=GateStatus.FAIL, reason="bad")
    snapshot = MetricSnapshot.objects.create(metric="mtta", scope="global", window="7d", value=1.0)
    item = reviews.action_item_create(incident=incident, title="Fix it")
    entry = LogEntry.objects.order_by("pk").first()
    assert entry is not None
    client.force_login(root)
    for url, model, pk in [
        ("/admin/incidents/incident/{}/delete/", Incident, incident.pk),
        ("/admin/opsgov/gateevaluation/{}/delete/", GateEvaluation, evaluation.pk),
        ("/admin/opsgov/metricsnapshot/{}/delete/", MetricSnapshot, snapshot.pk),
        ("/admin/incidents/actionitem/{}/delete/", ActionItem, item.pk),
        ("/admin/auditlog/logentry/{}/delete/", LogEntry, entry.pk),
    ]:
        assert client.post(url.format(pk), {"post": "yes"}).status_code == 403, url
        assert model.objects.filter(pk=pk).exists()
    bulk = client.post(
        "/admin/opsgov/gateevaluation/",
        {"action": "delete_selected", "_selected_action": [evaluation.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert GateEvaluation.objects.filter(pk=evaluation.pk).exists()


def test_deleting_an_integration_with_raw_events_in_the_admin_is_refused(root: User, client: Client) -> None:
    integration = IntegrationFactory.create()
    raw_event(integration)
    client.force_login(root)
    response = client.post(f"/admin/incidents/integration/{integration.pk}/delete/", {"post": "yes"})
    assert response.status_code in (200, 403)  # the confirmation page lists what it may not delete
    assert Integration.objects.filter(pk=integration.pk).exists()


def test_users_are_deactivated_not_deleted_in_the_admin(root: User, client: Client) -> None:
    bob = User.objects.create_user("bob")
    client.force_login(root)
    assert client.post(f"/admin/auth/user/{bob.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post("/admin/auth/user/", {"action": "deactivate_users", "_selected_action": [bob.pk]})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert not bob.is_active
    deactivation = LogEntry.objects.get_for_object(bob).filter(action=LogEntry.Action.UPDATE).latest("pk")
    assert deactivation.changes_dict["is_active"] == ["True", "False"]
    assert deactivation.actor == root


def test_the_api_answers_405_to_delete_on_evidence_even_for_a_superuser(
    root: User, client_for: Callable[[User], APIClient]
) -> None:
    incident = IncidentFactory.create()
    item = reviews.action_item_create(incident=incident, title="Fix it")
    api = client_for(root)
    assert api.delete(f"/api/v1/incidents/{incident.pk}/").status_code == 405
    assert api.delete(f"/api/v1/action-items/{item.pk}/").status_code == 405
    assert Incident.objects.filter(pk=incident.pk).exists() and ActionItem.objects.filter(pk=item.pk).exists()


def test_the_schema_documents_no_delete_for_evidence(root: User, client: Client) -> None:
    client.force_login(root)
    schema = yaml.safe_load(client.get("/api/v1/schema/").content)
    evidence_prefixes = (
        "/api/v1/incidents/",
        "/api/v1/action-items/",
        "/api/v1/reviews/",
        "/api/v1/gate-waivers/",
        "/api/v1/gates/",
        "/api/v1/metrics/",
    )
    checked = [path for path in schema["paths"] if path.startswith(evidence_prefixes)]
    assert "/api/v1/action-items/{id}/" in checked
    assert [path for path in checked if "delete" in schema["paths"][path]] == []


def test_no_role_may_delete_evidence() -> None:
    refused = evidence_delete_permissions()
    assert "incidents.delete_incident" in refused and "auditlog.delete_logentry" in refused
    for role in ALL_ROLES:
        codes = {
            f"{perm.content_type.app_label}.{perm.codename}"
            for perm in Group.objects.get(name=role).permissions.select_related("content_type")
        }
        assert codes & refused == set(), role
    # The SRE Lead still deletes what is not evidence (its "incidents.*" pattern).
    sre = Group.objects.get(name="SRE Lead").permissions.values_list("codename", flat=True)
    assert "delete_integration" in sre and "delete_incident" not in sre


def test_action_item_pages_offer_no_delete(make_user: Callable[..., User], client: Client) -> None:
    from opsgov.roles import SRE_LEAD

    incident = IncidentFactory.create()
    item = reviews.action_item_create(incident=incident, title="Fix it", due_date=timezone.localdate())
    client.force_login(make_user("sre", SRE_LEAD))
    page = client.get(f"/incidents/backlog/{item.pk}/")
    assert page.status_code == 200
    assert b"/delete/" not in page.content
    assert client.post(f"/incidents/backlog/{item.pk}/delete/").status_code == 404
