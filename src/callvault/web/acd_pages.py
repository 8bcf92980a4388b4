"""Console pages of the ACD: the supervisors' wallboard and the agent desktop.

Both pages are rendered with the institution's current figures, then kept live by small scripts: the wallboard
reads the statistics stream (`/api/v1/acd/stats/stream`), the desktop the agent's WebSocket. Changes go through
the same API endpoints (and so the same owner and audited action functions) with the session's CSRF header.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import Request
from fastapi.responses import Response

from callvault.acd import service as acd
from callvault.acd.agent_state import AgentState
from callvault.acd.owner import AcdOwners, TenantOwner
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
    "disconnected": "Live updates interrupted; reconnecting…",
    "connected": "Connected to the caller.",
    "withdrawn": "The offer was withdrawn.",
    "no_seat": "You have no agent seat yet: a supervisor must set up your skills.",
    "none": "None",
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
        state_labels=STATE_LABELS,
        manual_states=MANUAL_STATES,
        texts=_texts(console),
    )
