"""A deliberately naive router for the benchmark: same state store and log, but every decision scans all agents
(and all queues) instead of using the per-queue indexes. It shows what the indexes buy at 10,000 agents."""

from __future__ import annotations

from callvault.acd.agent_state import AgentState
from callvault.acd.router import Offer, Router
from callvault.acd.routing_queue import Agent, RoutingQueue


class LinearScanRouter(Router):
    def _pick_agent(self, q: RoutingQueue) -> Agent | None:
        best: Agent | None = None
        best_key: tuple[float, float] | None = None
        for agent in self.agents.values():
            if agent.state is AgentState.READY and self._eligible(agent, q.config):
                key = q.idle_key(agent)
                if best_key is None or key < best_key:
                    best, best_key = agent, key
        return best

    def _dispatch_agent(self, agent: Agent, now: float) -> list[Offer]:
        if agent.state is not AgentState.READY:
            return []
        best_q: RoutingQueue | None = None
        best_key: tuple[int, int, int] | None = None
        for q in self.queues.values():
            call = q.head()
            if call is not None and self._eligible(agent, q.config):
                key = (-q.config.priority, -call.priority, call.seq)
                if best_key is None or key < best_key:
                    best_q, best_key = q, key
        if best_q is None:
            return []
        return [self._offer(best_q.take_head(), agent, best_q, now)]
