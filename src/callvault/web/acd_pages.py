"""Console pages of the ACD: the supervisors' wallboard and the agent desktop.

Both pages are rendered with the institution's current figures, then kept live by small scripts: the wallboard
reads the statistics stream (`/api/v1/acd/stats/stream`), the desktop the agent's WebSocket. Changes go through
the same API endpoints (and so the same owner and audited action functions) with the session's CSRF header.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Request
from fastapi.responses import Response
from markupsafe import Markup

from callvault.acd import day_report
from callvault.acd import service as acd
from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners, TenantOwner
from callvault.web import charts
from callvault.web.console import Console, allowed, console_router, locale_of
from callvault.web.i18n import translations

router = console_router()
STATS_READ: Final = "report.read"

# Labels of the agent states (catalog message ids), in the order the wallboard lists agents.
STATE_LABELS: Final = {
    AgentState.TALKING.value: "Talking",
    AgentState.RINGING.value: "Ringing",
    AgentState.WRAP_UP.value: "Wrap-up",
    AgentState.READY.value: "Ready",
    AgentState.PAUSED.value: "Paused",
    AgentState.LOGGED_OUT.value: "Logged out",
}
# The states a person may choose (the others follow from calls).
MANUAL_STATES: Final = (AgentState.READY.value, AgentState.PAUSED.value, AgentState.LOGGED_OUT.value)
# Texts the scripts show; ids of the catalogs, translated into the page as JSON.
SCRIPT_TEXTS: Final = {
    "failed": "The change was refused:",
    "monitoring": "Your phone rings: answer it to join the call.",
    "disconnected": "Live updates interrupted; reconnecting…",
    "connected": "Connected to the caller.",
    "withdrawn": "The offer was withdrawn.",
    "held": "The caller is on hold.",
    "unheld": "The caller is back on the line.",
    "hung_up": "The call was hung up.",
    "transferred": "The caller was transferred to queue %(queue)s.",
    "no_seat": "You have no agent seat yet: a supervisor must set up your skills.",
    "none": "None",
}
# Texts of the charts of the day (catalog message ids; the %(name)s parts are filled in after translation).
CHART_TEXTS: Final = {
    "offered": "Offered",
    "answered": "Answered",
    "abandoned": "Abandoned",
    "service_level": "Service level",
    "title_total": "Calls per hour today, all queues",
    "title_queue": "Calls per hour today, queue %(queue)s",
    "desc": "%(day)s (%(zone)s): %(offered)s offered, %(answered)s answered, %(abandoned)s abandoned, "
    "%(in_target)s answered within the target; service level %(service_level)s.",
    "empty": "No calls yet today.",
    "zone_default": "Hours of the UTC day: the institution has no time zone set.",
    "zone": "Hours of the day in %(zone)s.",
}


def _owner(request: Request, console: Console) -> TenantOwner:
    owners: AcdOwners = request.app.state.acd
    owner = owners.for_principal(console.principal, session=console.session)
    # As in the API: no transaction may stay open while the owner's lock is taken (SQLite's write lock).
    if console.session.in_transaction():
        console.session.commit()
    return owner


def _texts(console: Console) -> dict[str, Any]:
    """Script texts and state labels translated for the viewer (every string comes from the catalogs)."""
    gettext = translations(locale_of(console.request)).gettext
    return {
        "states": {state: str(gettext(label)) for state, label in STATE_LABELS.items()},
        **{key: str(gettext(text)) for key, text in SCRIPT_TEXTS.items()},
    }


def day_charts(console: Console) -> dict[str, Any]:
    """Today's hourly charts (all queues, then each queue) as inline SVG, with the time zone note."""
    report = day_report.today(console.session, actor=console.principal)
    gettext = translations(locale_of(console.request)).gettext
    t = {key: str(gettext(text)) for key, text in CHART_TEXTS.items()}
    hours = report.day.labels()

    def chart(chart_id: str, title: str, figures: list[day_report.Hour]) -> Markup:
        offered = sum(h.offered for h in figures)
        in_target = sum(h.answered_in_target for h in figures)
        level = f"{in_target / offered * 100:.1f}%" if offered else "-"
        desc = t["desc"] % {
            "day": report.day.day.isoformat(),
            "zone": report.day.zone,
            "offered": offered,
            "answered": sum(h.answered for h in figures),
            "abandoned": sum(h.abandoned for h in figures),
            "in_target": in_target,
            "service_level": level,
        }
        return charts.hourly_chart(
            hours,
            [
                charts.Series("offered", t["offered"], [h.offered for h in figures]),
                charts.Series("answered", t["answered"], [h.answered for h in figures]),
                charts.Series("abandoned", t["abandoned"], [h.abandoned for h in figures]),
            ],
            charts.Texts(title=title, desc=desc, empty=t["empty"]),
            ratio=charts.Ratio("service-level", t["service_level"], [h.service_level for h in figures]),
            chart_id=chart_id,
        )

    zone_note = t["zone_default"] if report.day.zone_is_default else t["zone"] % {"zone": report.day.zone}
    return {
        "zone_note": zone_note,
        "total_chart": chart("chart-total", t["title_total"], report.total),
        "queue_charts": [
            (q.name, chart(f"chart-{q.queue_id}", t["title_queue"] % {"queue": q.name}, q.hours)) for q in report.queues
        ],
    }


@router.get("/wallboard/charts")
def wallboard_charts(console: Annotated[Console, allowed(STATS_READ)]) -> Response:
    """The charts alone: the wallboard polls this fragment every minute."""
    return console.render("wallboard_charts.html", **day_charts(console))


@router.get("/wallboard")
def wallboard_page(request: Request, console: Annotated[Console, allowed(STATS_READ)]) -> Response:
    names = {str(a.id): a.display_name for a in acd.list_agents(console.session)}
    reasons = acd.list_pause_reasons(console.session)
    snapshot = _owner(request, console).stats()
    order = list(STATE_LABELS)
    agents = sorted(snapshot["agents"], key=lambda a: order.index(a["state"]) if a["state"] in order else 99)
    return console.render(
        "wallboard.html",
        snapshot=snapshot,
        agents=agents,
        names=names,
        reasons=reasons,
        state_labels=STATE_LABELS,
        manual_states=MANUAL_STATES,
        can_force=console.principal.has(acd.SUPERVISE),
        texts=_texts(console),
        **day_charts(console),
    )


@router.get("/desk")
def desk_page(request: Request, console: Annotated[Console, allowed(acd.HANDLE)]) -> Response:
    agent_id = console.principal.id
    assert agent_id is not None  # a console session is always a user's
    view = _owner(request, console).agent_view(agent_id)
    return console.render(
        "desk.html",
        view=view,
        reasons=acd.list_pause_reasons(console.session),
        # The transfer targets: every queue of the institution (the agent's channel takes any of them).
        queues=acd.list_queues(console.session),
        state_labels=STATE_LABELS,
        manual_states=MANUAL_STATES,
        texts=_texts(console),
    )
