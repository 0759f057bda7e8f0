"""HTML pages of the quality gates: the index, a gate's page, the service scorecard and the CSV export.

Reads go through opsgov.gates.selectors (a fixed number of queries whatever the
history), writes through opsgov.gates.services and opsgov.gates.waivers. Every page
needs a login (LoginRequiredMiddleware); re-running a gate needs the
`opsgov.run_gate_evaluation` permission, requesting a waiver
`opsgov.add_gatewaiver`, approving one the gate's approver role. A refused
action is a message on the gate page (post/redirect/get); an invalid waiver
request re-renders the page with the errors next to the fields (400).
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import selectors as core_selectors
from ..listing import OneOfSelect, filter_data, paginate
from ..models import GateStatus, GateWaiver, Service, WaiverState
from ..registry import WINDOWS, Gate, gates
from . import selectors, services, waivers
from .forms import AsOfForm, RevokeForm, WaiverRequestForm

RUN_PERMISSION = "opsgov.run_gate_evaluation"
REQUEST_PERMISSION = "opsgov.add_gatewaiver"
TIMELINE_PAGE_SIZE = 25


def _gate_or_404(key: str) -> Gate:
    if key not in gates:
        raise Http404(f"No quality gate {key!r}.")
    return gates.get(key)


# --- Index ------------------------------------------------------------------------------------


def gate_index(request: HttpRequest) -> HttpResponse:
    """The eight gates with status, reason and counts of failing, at-risk and waived rows."""
    overview = selectors.gate_overview()
    return render(request, "opsgov/gates/gate_index.html", {"gates": overview, "now": timezone.now()})


# --- A gate's page ------------------------------------------------------------------------------


def _filter_bar(filterset: selectors.EvidenceFilterSet) -> None:
    fields = filterset.form.fields
    for name, any_label in (("service", "Any service"), ("team", "Any team")):
        fields[name].widget = OneOfSelect(choices=[("", any_label), *iter(fields[name].choices)])
    fields["status"].widget = OneOfSelect(choices=[("", "Any status"), *GateStatus.choices])


def _gate_context(request: HttpRequest, gate: Gate, *, request_form: WaiverRequestForm | None = None) -> dict[str, Any]:
    as_of = AsOfForm(request.GET or None)
    at = as_of.cleaned_data.get("at") if as_of.is_valid() else None
    evaluation = selectors.evaluation_as_of(gate.key, at)
    replaying = at is not None
    all_rows = selectors.evidence_rows(evaluation).get(evaluation.pk, []) if evaluation else []
    data = filter_data(request)
    for name in ("at", "page"):
        data.pop(name, None)
    filterset = selectors.EvidenceFilterSet(data or None, queryset=Service.objects.all())
    _filter_bar(filterset)
    rows = filterset.filter_rows(all_rows)
    user = request.user
    timeline = paginate(request, selectors.status_changes(gate.key), per_page=TIMELINE_PAGE_SIZE)
    context: dict[str, Any] = {
        "gate": gate,
        "evaluation": evaluation,
        "status": GateStatus(evaluation.status) if evaluation else GateStatus.NO_EVIDENCE,
        "rows": rows,
        "row_total": len(all_rows),
        "counts": selectors.count_rows(evaluation),
        "filter": filterset,
        "is_filtered": filterset.is_filtered,
        "as_of": as_of,
        "at": at,
        "replaying": replaying,
        "timeline": timeline,
        "approver_roles": gate.waiver_approver_roles(),
        "can_run": not replaying and user.has_perm(RUN_PERMISSION),
    }
    if not replaying:
        open_list = list(waivers.open_waivers(gate=gate.key))
        is_approver = waivers.is_approver(user, gate)
        context["waivers"] = [
            {
                "waiver": waiver,
                "state": waiver.state,
                "can_approve": waiver.state == WaiverState.PENDING
                and waiver.approver_id == user.pk
                and waiver.requested_by_id != user.pk
                and is_approver,
                "can_revoke": user.pk in (waiver.requested_by_id, waiver.approver_id) or is_approver,
            }
            for waiver in open_list
        ]
        if user.has_perm(REQUEST_PERMISSION) and any(row.waivable for row in all_rows):
            taken = frozenset(
                (waiver.service.slug if waiver.service is not None else "", waiver.evidence_key) for waiver in open_list
            )
            form = request_form or WaiverRequestForm(gate=gate, rows=all_rows, user=user, taken=taken)
            context["can_request"] = form.has_choices
            context["request_form"] = form
        context["revoke_form"] = RevokeForm()
    return context


def gate_detail(request: HttpRequest, key: str) -> HttpResponse:
    """A gate: its evidence rows (filterable), waivers, and the timeline of status changes; `?at=` replays."""
    gate = _gate_or_404(key)
    return render(request, "opsgov/gates/gate_detail.html", _gate_context(request, gate))


@require_POST
def gate_evaluate(request: HttpRequest, key: str) -> HttpResponseRedirect:
    """Re-run the gate now (in the request: one gate is quick), then show the result."""
    gate = _gate_or_404(key)
    if not request.user.has_perm(RUN_PERMISSION):
        raise PermissionDenied("Your roles do not allow re-running gates.")
    evaluation = services.evaluate_gate(gate=gate)
    status = GateStatus(evaluation.status).label
    if evaluation.status_changed and evaluation.previous_status:
        before = GateStatus(evaluation.previous_status).label
        messages.warning(request, f"Re-evaluated: {status} (was {before}). The gate's owners are notified.")
    else:
        messages.success(request, f"Re-evaluated: {status}, unchanged.")
    return redirect("gate-detail", key=gate.key)


def _redirect(gate: Gate, anchor: str = "") -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("gate-detail", kwargs={"key": gate.key}) + anchor)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@require_POST
def waiver_request(request: HttpRequest, key: str) -> HttpResponse:
    gate = _gate_or_404(key)
    if not request.user.has_perm(REQUEST_PERMISSION):
        raise PermissionDenied("Your roles do not allow requesting waivers.")
    evaluation = selectors.evaluation_as_of(gate.key)
    rows = selectors.evidence_rows(evaluation).get(evaluation.pk, []) if evaluation else []
    form = WaiverRequestForm(request.POST, gate=gate, rows=rows, user=request.user)
    if form.is_valid():
        service, evidence_key = form.cleaned_data["check"]
        try:
            waiver = waivers.waiver_request(
                gate=gate.key,
                evidence_key=evidence_key,
                service=service,
                reason=form.cleaned_data["reason"],
                compensating_control=form.cleaned_data["compensating_control"],
                approver=form.cleaned_data["approver"],
                expires_at=form.cleaned_data["expires_at"],
                requested_by=request.user,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, f"Waiver requested; it counts once {waiver.approver.get_username()} approves it.")
            return _redirect(gate, f"#waiver-{waiver.pk}")
    context = _gate_context(request, gate, request_form=form)
    return render(request, "opsgov/gates/gate_detail.html", context, status=400)


@require_POST
def waiver_approve(request: HttpRequest, key: str, pk: int) -> HttpResponseRedirect:
    gate = _gate_or_404(key)
    waiver = get_object_or_404(GateWaiver, pk=pk, gate=gate.key)
    try:
        waivers.waiver_approve(waiver=waiver, actor=request.user)
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, f"Could not approve the waiver: {_reason(exc)}")
    else:
        messages.success(request, "Waiver approved; the gate was re-evaluated with it.")
    return _redirect(gate, f"#waiver-{waiver.pk}")


@require_POST
def waiver_revoke(request: HttpRequest, key: str, pk: int) -> HttpResponseRedirect:
    gate = _gate_or_404(key)
    waiver = get_object_or_404(GateWaiver, pk=pk, gate=gate.key)
    form = RevokeForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        waivers.waiver_revoke(waiver=waiver, actor=request.user, reason=reason)
    except (PermissionDenied, ValidationError) as exc:
        messages.error(request, f"Could not revoke the waiver: {_reason(exc)}")
    else:
        messages.success(request, "Waiver revoked; the check counts again.")
    return _redirect(gate, "#waivers-heading")


# --- Service scorecard ----------------------------------------------------------------------------


def service_scorecard(request: HttpRequest, slug: str) -> HttpResponse:
    """One service: every gate's evidence about it, its open waivers and its metrics against the targets."""
    service = get_object_or_404(core_selectors.service_list(), slug=slug)
    context = {
        "service": service,
        "cards": selectors.scorecard_gates(service),
        "metric_lines": selectors.service_metrics(service),
        "windows": list(WINDOWS),
        "waivers": [
            {"waiver": waiver, "gate_title": gates.get(waiver.gate).title if waiver.gate in gates else waiver.gate}
            for waiver in selectors.service_waivers(service)
        ],
    }
    return render(request, "opsgov/gates/service_scorecard.html", context)


# --- CSV export -----------------------------------------------------------------------------------

CSV_HEADER = [
    "gate",
    "step",
    "title",
    "gate_status",
    "gate_reason",
    "evaluated_at",
    "evidence_key",
    "evidence_label",
    "evidence_status",
    "service",
    "team",
    "detail",
    "url",
    "waiver_id",
    "waiver_expires_at",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def gates_csv(request: HttpRequest) -> HttpResponse:
    """Every gate's newest evaluation, one line per evidence row (a gate without rows has one line).

    Filters: `gate` (key, repeatable) and the evidence filters of the gate page (service, team, status, q).
    """
    wanted = set(request.GET.getlist("gate"))
    unknown = wanted - {gate.key for gate in gates.all()}
    if unknown:
        return HttpResponse(f"Unknown gate: {', '.join(sorted(unknown))}\n", status=400, content_type="text/plain")
    data = filter_data(request)
    data.pop("gate", None)
    filterset = selectors.EvidenceFilterSet(data or None, queryset=Service.objects.all())
    if filterset.is_bound and not filterset.is_valid():
        lines = [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]
        return HttpResponse("\n".join(lines) + "\n", status=400, content_type="text/plain")
    states = [state for state in core_selectors.gate_states() if not wanted or state.gate.key in wanted]
    rows_by_evaluation = selectors.evidence_rows(*(state.evaluation for state in states))
    base_url = services.absolute_url("")
    writer = csv.writer(_Echo())
    lines = [writer.writerow(CSV_HEADER)]
    for state in states:
        gate, evaluation = state.gate, state.evaluation
        head = [
            gate.key,
            gate.step,
            gate.title,
            evaluation.status if evaluation else GateStatus.NO_EVIDENCE.value,
            evaluation.reason if evaluation else "Not evaluated yet.",
            evaluation.evaluated_at.isoformat() if evaluation else "",
        ]
        rows = filterset.filter_rows(rows_by_evaluation.get(evaluation.pk, []) if evaluation else [])
        if not rows and not filterset.is_filtered:
            lines.append(writer.writerow([_cell(value) for value in [*head, *[""] * 9]]))
        for row in rows:
            team = row.team
            waiver = row.waiver or {}
            url = base_url + row.url if row.url.startswith("/") else row.url
            cells = [
                *head,
                row.key,
                row.label,
                row.status,
                row.service_slug,
                team.slug if team else "",
                row.detail,
                url,
                waiver.get("id", ""),
                waiver.get("expires_at", ""),
            ]
            lines.append(writer.writerow([_cell(value) for value in cells]))
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="opsgov-gates-{stamp}.csv"'
    return response
