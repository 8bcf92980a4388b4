"""Property: a flow the validator accepts never fails at run time, whatever the caller presses and when.

Random flows of every node kind (reachable by construction, pruned, then kept only if they validate) run on the
sim engine against random key presses; each ends with a defined outcome, follows only edges of its graph, and
stays within the step limit.
"""

from __future__ import annotations

import asyncio
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from callvault.ivr.flow import edges, parse_document
from callvault.ivr.interpreter import Interpreter, Outcome, OutcomeKind
from callvault.ivr.validator import validate
from callvault.telephony.sim import Directory, FarEnd, SimEngine

KEYS = "0123456789*#"
FINAL = ("hangup", "queue", "voicemail", "callback", "transfer")


@st.composite
def flows(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=2, max_value=9))
    ids = [f"n{i}" for i in range(count)]

    def target() -> str:
        return draw(st.sampled_from(ids))

    nodes: dict[str, Any] = {}
    for i, node_id in enumerate(ids):
        follow = ids[i + 1] if i + 1 < count else None  # a chain keeps most nodes reachable
        kinds = ["play", "menu", "collect", "set", "condition", "lookup"] if follow else list(FINAL)
        kind = draw(st.sampled_from(kinds))
        say = {"say": draw(st.sampled_from(["您好", "hello {caller}", "余额{caller:amount_zh}", "{dialled:digits}"]))}
        if kind == "play":
            nodes[node_id] = {"type": "play", "prompt": say, "next": follow}
        elif kind == "menu":
            options = {k: target() for k in draw(st.sets(st.sampled_from(KEYS), min_size=1, max_size=3))}
            options[draw(st.sampled_from(KEYS))] = follow
            nodes[node_id] = {
                "type": "menu",
                "prompt": say,
                "options": options,
                "timeout": draw(st.sampled_from([1.0, 3.0])),
                "retries": draw(st.integers(0, 2)),
                "on_invalid": target(),
            }
        elif kind == "collect":
            low = draw(st.integers(1, 3))
            nodes[node_id] = {
                "type": "collect",
                "prompt": say,
                "into": "entered",
                "min_length": low,
                "max_length": low + draw(st.integers(0, 2)),
                "terminator": draw(st.sampled_from(["#", None])),
                "timeout": 2.0,
                "next": follow,
                "on_fail": target(),
            }
        elif kind == "set":
            nodes[node_id] = {"type": "set", "variables": {"note": "x{caller}"}, "next": follow}
        elif kind == "condition":
            test = draw(
                st.sampled_from(
                    [
                        {"test": "open"},
                        {"test": "holiday"},
                        {"test": "compare", "variable": "caller", "op": "ge", "value": 5},
                    ]
                )
            )
            nodes[node_id] = {"type": "condition", "branches": [{"when": test, "next": target()}], "otherwise": follow}
        elif kind == "lookup":  # no credentials in this test: always the error branch
            nodes[node_id] = {"type": "lookup", "url": "http://127.0.0.1:9/x", "next": follow, "on_error": target()}
        elif kind == "queue":
            nodes[node_id] = {"type": "queue", "queue": "cards", "priority": draw(st.integers(0, 100))}
        elif kind == "callback":
            nodes[node_id] = {"type": "callback", "queue": "cards"}
        elif kind == "transfer":
            nodes[node_id] = {"type": "transfer", "number": "+86{caller}"}
        elif kind == "voicemail":
            nodes[node_id] = {"type": "voicemail", "mailbox": "general"}
        else:
            nodes[node_id] = {"type": "hangup"}
    return {"start": "n0", "max_steps": 40, "nodes": nodes}


def _prune(document: dict[str, Any]) -> dict[str, Any]:
    doc = parse_document(document)
    seen, todo = {doc.start}, [doc.start]
    while todo:
        for _, nxt in edges(doc.nodes[todo.pop()]):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return {**document, "nodes": {k: v for k, v in document["nodes"].items() if k in seen}}


presses = st.lists(st.tuples(st.floats(0.0, 60.0), st.sampled_from(KEYS)), max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(document=flows(), keys=presses, hangup_after=st.one_of(st.none(), st.floats(0.5, 90.0)))
def test_valid_flows_never_fail_at_run_time(
    document: dict[str, Any], keys: list[tuple[float, str]], hangup_after: float | None
) -> None:
    pruned = _prune(document)
    doc = parse_document(pruned)
    assume(validate(doc, known_queues={"cards"}, prompt_exists=lambda _: False) == [])

    async def main() -> Outcome:
        with tempfile.TemporaryDirectory() as tmp:
            sim = SimEngine(directory=Directory(), recordings_dir=Path(tmp), seed=1)
            caller = FarEnd(digits=tuple(sorted(keys)), hangup_after=hangup_after if hangup_after else 600.0)
            call = sim.offer_inbound(caller, from_uri="sip:+8613800138000@pstn", to_uri="sip:+861088880000@cv")
            await sim.answer(call)
            interpreter = Interpreter(sim, clock=_SimClock(sim), prompt_root=Path(tmp))
            return await sim.run(interpreter.run(doc, call, caller="13800138000", dialled="+861088880000"), limit=5000)

    outcome = asyncio.run(main())
    assert outcome.kind is not OutcomeKind.FAILED, outcome.reason
    path = outcome.context.path
    assert 1 <= len(path) <= doc.max_steps
    graph = {n: {t for _, t in edges(node)} for n, node in doc.nodes.items()}
    assert all(b in graph[a] for a, b in pairwise(path))
    if outcome.kind in (OutcomeKind.QUEUED, OutcomeKind.CALLBACK):
        assert outcome.queue == "cards"


class _SimClock:
    def __init__(self, sim: SimEngine) -> None:
        self.sim = sim

    def now(self) -> float:
        return self.sim.clock.now

    async def sleep(self, seconds: float) -> None:
        await self.sim.sleep(seconds)
