"""Framework imports: the fixture catalog and library, versions, bad documents, the built-in framework."""

from __future__ import annotations

import json

import pytest

from compliance import builtin
from compliance.importers import ImportProblem, import_library, import_oscal_catalog
from compliance.models import Control, EvidenceBinding, Framework, Requirement

pytestmark = pytest.mark.django_db


def test_it_imports_the_fixture_catalog_with_groups_as_headings_and_nested_controls(catalog_bytes: bytes) -> None:
    result = import_oscal_catalog(catalog_bytes)
    assert result.created
    framework = result.framework
    assert (framework.slug, framework.version) == ("acme-operations-controls", "1.0")
    refs = list(framework.requirements.values_list("ref_id", "assessable", "depth"))
    assert ("bk", False, 1) in refs
    assert ("bk-1", True, 2) in refs
    assert ("bk-1.1", True, 3) in refs  # a control enhancement is a child of its control
    child = Requirement.objects.get(framework=framework, ref_id="bk-1.1")
    assert child.parent is not None and child.parent.ref_id == "bk-1"
    # The statement's parameter placeholder is filled with the parameter's value.
    assert Requirement.objects.get(framework=framework, ref_id="bk-1").description == (
        "Backups are integrity-checked weekly."
    )


def test_reimporting_the_same_version_changes_nothing(catalog_bytes: bytes) -> None:
    first = import_oscal_catalog(catalog_bytes)
    count = Requirement.objects.count()
    again = import_oscal_catalog(catalog_bytes)
    assert not again.created and again.framework.pk == first.framework.pk
    assert Requirement.objects.count() == count


def test_a_new_version_adds_rows_and_a_changed_document_under_an_old_version_is_refused(catalog_bytes: bytes) -> None:
    first = import_oscal_catalog(catalog_bytes)
    document = json.loads(catalog_bytes)
    document["catalog"]["metadata"]["version"] = "2.0"
    document["catalog"]["groups"][0]["title"] = "Backups"
    second = import_oscal_catalog(json.dumps(document).encode())
    assert second.created and second.framework.pk != first.framework.pk
    first.framework.refresh_from_db()
    assert Requirement.objects.get(framework=first.framework, ref_id="bk").title == "Backup and recovery"
    document["catalog"]["metadata"]["version"] = "1.0"
    with pytest.raises(ImportProblem, match="never rewritten"):
        import_oscal_catalog(json.dumps(document).encode())


def test_a_catalog_that_does_not_validate_names_the_path_and_writes_nothing(catalog_bytes: bytes) -> None:
    document = json.loads(catalog_bytes)
    document["catalog"]["groups"][0]["controls"][1]["id"] = "not an id!"
    with pytest.raises(ImportProblem) as caught:
        import_oscal_catalog(json.dumps(document).encode())
    messages = caught.value.message_dict["document"]
    assert any(message.startswith("catalog.groups[0].controls[1].id: ") for message in messages), messages
    assert not Framework.objects.exists() and not Requirement.objects.exists()


def test_broken_json_names_the_line() -> None:
    with pytest.raises(ImportProblem, match="Line 1, column 13"):
        import_oscal_catalog(b'{"catalog": ')


def test_it_imports_the_fixture_library_with_its_tree(library_bytes: bytes) -> None:
    result = import_library(library_bytes)
    framework = result.framework
    assert (framework.slug, framework.version, framework.source_uuid) == (
        "ops-phase8",
        "1",
        "urn:acme:framework:ops-phase8",
    )
    heading = Requirement.objects.get(framework=framework, ref_id="8")
    assert not heading.assessable
    assert Requirement.objects.get(framework=framework, ref_id="8.1").parent == heading
    assert import_library(library_bytes).created is False


def test_a_library_with_an_unknown_parent_names_the_node(library_bytes: bytes) -> None:
    bad = library_bytes.replace(b"parent_urn: urn:acme:req:ops-phase8:8\n", b"parent_urn: urn:nowhere\n", 1)
    with pytest.raises(ImportProblem) as caught:
        import_library(bad)
    assert caught.value.message_dict["document"] == [
        "library.requirement_nodes[1].parent_urn: 'urn:nowhere' is not the urn of an earlier node."
    ]
    assert not Framework.objects.exists()


def test_a_library_missing_a_field_names_it(library_bytes: bytes) -> None:
    bad = library_bytes.replace(b"    name: A DR drill is run every quarter\n", b"", 1)
    with pytest.raises(ImportProblem) as caught:
        import_library(bad)
    assert caught.value.message_dict["document"] == ["library.requirement_nodes[2].name: Field required"]


def test_the_built_in_framework_has_the_eight_steps_and_their_approvals_and_installs_once() -> None:
    result = builtin.install_builtin(bind_gates=True)
    framework = result.framework
    headings = framework.requirements.filter(assessable=False)
    assert headings.count() == 8
    assert framework.requirements.filter(ref_id="6.A", title__contains="Compliance Officer").exists()
    again = builtin.install_builtin(bind_gates=True)
    assert not again.created and again.requirements == result.requirements
    assert Control.objects.filter(is_key=True).count() == 8
    assert EvidenceBinding.objects.filter(provider="gate").count() == 8
