"""Import a framework: an OSCAL catalog (.json) or a requirement library (.yaml); or install the built-in one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance import builtin
from compliance.importers import ImportProblem, import_document


class Command(BaseCommand):
    help = "Import a framework document (OSCAL catalog JSON or library YAML), or --builtin for opsgov's own."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="The document to import.")
        parser.add_argument("--slug", default="", help="Framework slug (default: from the document's title).")
        parser.add_argument("--builtin", action="store_true", help="Install the built-in framework bound to the gates.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["builtin"]:
            result = builtin.install_builtin(bind_gates=True)
        else:
            if not options["path"]:
                raise CommandError("Give a document path, or --builtin.")
            path = Path(options["path"])
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from exc
            try:
                result = import_document(data, filename=path.name, slug=options["slug"])
            except ImportProblem as problem:
                raise CommandError(f"{path}:\n  " + "\n  ".join(problem.message_dict["document"])) from problem
        verb = "Imported" if result.created else "Unchanged (already imported)"
        self.stdout.write(f"{verb}: {result.framework} ({result.requirements} requirements)")
