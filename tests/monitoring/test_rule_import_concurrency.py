"""Two imports of the same new rule file at once, with real commits and separate connections."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections

from monitoring.models import AlertRule, RuleFile, RuleGroup
from monitoring.rules import ImportResult, import_rule_files

from .catalog_helpers import fixture_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_simultaneous_imports_of_a_new_file_leave_one_copy_of_each_rule() -> None:
    barrier = threading.Barrier(2)
    results: list[Any] = [None, None]
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = import_rule_files(files=[("rules.yml", fixture_text())])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an import hung"
    assert not errors, errors
    # One import created the file and its three rules; the other, serialised behind it, found them unchanged.
    outcomes = sorted(
        (result.added, result.files[0].unchanged) for result in results if isinstance(result, ImportResult)
    )
    assert outcomes == [(0, 3), (3, 0)]
    assert (RuleFile.objects.count(), RuleGroup.objects.count(), AlertRule.objects.count()) == (1, 2, 3)
