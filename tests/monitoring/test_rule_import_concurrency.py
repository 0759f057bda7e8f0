"""Two imports of the same new rule file at once, with real commits and separate connections."""

from __future__ import annotations

import pytest

from monitoring.catalog.services import ImportResult, import_rule_files
from monitoring.models import AlertRule, RuleFile, RuleGroup
from tests.concurrency import in_threads

from .catalog_helpers import fixture_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_simultaneous_imports_of_a_new_file_leave_one_copy_of_each_rule() -> None:
    results = in_threads(2, lambda _: import_rule_files(files=[("rules.yml", fixture_text())]))
    # One import created the file and its three rules; the other, serialised behind it, found them unchanged.
    outcomes = sorted(
        (result.added, result.files[0].unchanged) for result in results if isinstance(result, ImportResult)
    )
    assert outcomes == [(0, 3), (3, 0)]
    assert (RuleFile.objects.count(), RuleGroup.objects.count(), AlertRule.objects.count()) == (1, 2, 3)
