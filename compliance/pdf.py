"""The compliance status report as PDF (fpdf2: pure Python, core Helvetica, nothing fetched or executed).

The same figures and rows as the HTML and CSV (compliance.reports.status_rows), laid out as a summary
and one table per section. Core fonts are Latin-1: any other character is replaced by "?" so a control
title in another script never fails the report.
"""

from __future__ import annotations

from django.http import HttpResponse
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from .models import Framework
from .reports import framework_status, status_rows
from .selectors import StatusReport

#: Column widths (mm) of the item, state and detail cells on an A4 page with 15 mm margins.
WIDTHS = (80.0, 30.0, 70.0)
SECTIONS = {
    "training": "Compliance training by role",
    "control": "Controls and their evidence",
    "failed test": "Failed tests",
    "finding": "Open findings",
    "exception": "Active exceptions",
}


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def status_pdf(report: StatusReport) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(_latin1(f"Compliance status: {report.framework}"))
    pdf.set_creator("opsgov")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 9, _latin1(f"Compliance status: {report.framework}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 6, f"Generated {report.generated_at:%Y-%m-%d %H:%M} UTC", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if report.evidence_as_of is not None:
        as_of = f"Controls' evidence as of {report.evidence_as_of:%Y-%m-%d %H:%M} UTC"
        pdf.cell(0, 6, as_of, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    rows = status_rows(report)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 8, "Summary", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    for _section, item, state, detail, _link in (row for row in rows if row[0] == "summary"):
        line = f"{item.capitalize()}: {state}" + (f" ({detail})" if detail else "")
        pdf.cell(0, 6, _latin1(line), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for section, heading in SECTIONS.items():
        body = [row for row in rows if row[0] == section]
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", "", 8)
        if not body:
            pdf.cell(0, 5, "None.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            continue
        with pdf.table(col_widths=WIDTHS, text_align="LEFT", line_height=4.5) as table:
            header = table.row()
            for title in ("Item", "State", "Detail"):
                header.cell(title)
            for _section, item, state, detail, _link in body:
                cells = table.row()
                for value in (item, state, detail):
                    cells.cell(_latin1(value))
    return bytes(pdf.output())


def status_pdf_response(framework: Framework) -> HttpResponse:
    response = HttpResponse(status_pdf(framework_status(framework)), content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="compliance-status-{framework.slug}-{framework.version}.pdf"'
    )
    return response
