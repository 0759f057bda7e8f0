"""Metric rows carry the id that the schema's detail route (/api/v1/metrics/{id}/) takes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from opsgov.models import MetricSnapshot

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/"


def test_each_listed_row_has_the_id_of_its_detail_route(client_for, personas) -> None:
    now = timezone.now()
    MetricSnapshot.objects.create(metric="mtta", scope="global", window="30d", value=600.0, computed_at=now)
    MetricSnapshot.objects.create(metric="mttr", scope="global", window="30d", value=7200.0, computed_at=now)
    client = client_for(personas["SRE Lead"])
    rows = client.get(URL).json()["results"]
    assert [(row["metric"], row["value"]) for row in rows] == [("mtta", 600.0), ("mttr", 7200.0)]
    for row in rows:
        detail = client.get(f"{URL}{row['id']}/")
        assert detail.status_code == 200
        assert detail.json() == row


def test_the_schema_promises_the_id_it_documents() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "/api/v1/metrics/{id}/" in schema["paths"]
    assert "id" in schema["components"]["schemas"]["MetricSnapshot"]["properties"]


def test_a_replaced_row_keeps_answering_as_history(client_for, personas) -> None:
    now = timezone.now()
    old = MetricSnapshot.objects.create(
        metric="mtta", scope="global", window="30d", value=600.0, computed_at=now - timedelta(hours=1)
    )
    MetricSnapshot.objects.filter(pk=old.pk).update(is_current=False)
    new = MetricSnapshot.objects.create(metric="mtta", scope="global", window="30d", value=540.0, computed_at=now)
    client = client_for(personas["SRE Lead"])
    assert [row["id"] for row in client.get(URL).json()["results"]] == [new.pk]
    replaced = client.get(f"{URL}{old.pk}/").json()
    assert (replaced["value"], replaced["is_current"]) == (600.0, False)
