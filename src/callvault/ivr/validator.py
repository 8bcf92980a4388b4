"""Checks a flow before it is published, so a bad flow is refused at publish and never fails at run time.

Each error names the node (``nodes.<id>.<field>``): references to unknown nodes, nodes no call can reach, loops
a caller cannot leave (no way to a final node, or no node that waits for the caller), prompt files that do not
exist, queues the institution does not have, and variables that are malformed or used before any path sets them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from callvault.core.errors import FieldError
from callvault.ivr import speech
from callvault.ivr.flow import (
    BUILTIN_VARIABLES,
    INPUT_TYPES,
    TERMINAL_TYPES,
    CallbackNode,
    CollectNode,
    CompareTest,
    ConditionNode,
    FlowDocument,
    LookupNode,
    Node,
    PriorityFrom,
    Prompt,
    QueueNode,
    SetNode,
    TransferNode,
    edges,
    prompts_of,
)


def validate(doc: FlowDocument, *, known_queues: set[str], prompt_exists: Callable[[str], bool]) -> list[FieldError]:
    """Every problem of the flow, per node; an empty list means it may be published."""
    errors: list[FieldError] = []
    if doc.start not in doc.nodes:
        errors.append(FieldError("start", f"names unknown node '{doc.start}'"))
    for node_id, node in doc.nodes.items():
        for field, target in edges(node):
            if target not in doc.nodes:
                errors.append(
                    FieldError(f"nodes.{node_id}.{field}", f"node '{node_id}' goes to unknown node '{target}'")
                )
        errors += _prompt_files(node_id, node, prompt_exists)
        errors += _queues(node_id, node, known_queues)
    errors += _prompt_file_errors("filler", doc.filler, prompt_exists)
    if errors:  # the graph checks below need every reference resolved
        return errors
    reachable = _reachable(doc)
    errors += [
        FieldError(f"nodes.{node_id}", f"node '{node_id}' is unreachable from '{doc.start}'")
        for node_id in doc.nodes
        if node_id not in reachable
    ]
    errors += _loops(doc, reachable)
    errors += _variables(doc, reachable)
    return errors


def _graph(doc: FlowDocument) -> dict[str, list[str]]:
    return {node_id: [target for _, target in edges(node)] for node_id, node in doc.nodes.items()}


def _reachable(doc: FlowDocument) -> set[str]:
    graph, seen, todo = _graph(doc), {doc.start}, [doc.start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _prompt_file_errors(field: str, prompt: Prompt, prompt_exists: Callable[[str], bool]) -> list[FieldError]:
    if prompt.file is not None and not prompt_exists(prompt.file):
        return [FieldError(field, f"prompt file '{prompt.file}' does not exist")]
    return []


def _prompt_files(node_id: str, node: Node, prompt_exists: Callable[[str], bool]) -> list[FieldError]:
    errors: list[FieldError] = []
    for field, prompt in prompts_of(node):
        for err in _prompt_file_errors(field, prompt, prompt_exists):
            errors.append(FieldError(f"nodes.{node_id}.{field}", f"node '{node_id}': {err.reason}"))
    return errors


def _queues(node_id: str, node: Node, known_queues: set[str]) -> list[FieldError]:
    if isinstance(node, QueueNode | CallbackNode) and node.queue not in known_queues:
        return [FieldError(f"nodes.{node_id}.queue", f"node '{node_id}' names unknown queue '{node.queue}'")]
    return []


# --- loops ------------------------------------------------------------------------------------------------


def _components(graph: dict[str, list[str]], nodes: set[str]) -> list[list[str]]:
    """Strongly connected components (Tarjan, iterative so a long flow cannot exhaust the stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in nodes:
                    continue
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(graph[target])))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(sorted(component))
    return out


def _loops(doc: FlowDocument, reachable: set[str]) -> list[FieldError]:
    graph = _graph(doc)
    errors: list[FieldError] = []
    for component in _components(graph, reachable):
        members = set(component)
        if len(component) == 1 and component[0] not in graph[component[0]]:
            continue  # not a loop
        first = component[0]
        names = ", ".join(component)
        leaves = any(t not in members for n in component for t in graph[n]) or any(
            doc.nodes[n].type in TERMINAL_TYPES for n in component
        )
        if not leaves:
            errors.append(FieldError(f"nodes.{first}", f"loop without exit through nodes {names}"))
        elif not any(doc.nodes[n].type in INPUT_TYPES for n in component):
            errors.append(
                FieldError(
                    f"nodes.{first}",
                    f"loop through nodes {names} never waits for the caller (add a menu or collect node)",
                )
            )
    return errors


# --- variables --------------------------------------------------------------------------------------------


def _uses(node: Node) -> list[tuple[str, str]]:
    """(field, template-or-variable) pairs; plain variable names are wrapped as one-field templates."""
    out: list[tuple[str, str]] = [(f"{field}.say", p.say) for field, p in prompts_of(node) if p.say is not None]
    if isinstance(node, SetNode):
        out += [(f"variables.{name}", value) for name, value in node.variables.items()]
    if isinstance(node, TransferNode | CallbackNode):
        out.append(("number", node.number))
    if isinstance(node, LookupNode):
        out += [(f"send.{i}", "{" + name + "}") for i, name in enumerate(node.send)]
    if isinstance(node, ConditionNode):
        out += [
            (f"branches.{i}.when.variable", "{" + b.when.variable + "}")
            for i, b in enumerate(node.branches)
            if isinstance(b.when, CompareTest)
        ]
    if isinstance(node, QueueNode) and isinstance(node.priority, PriorityFrom):
        out.append(("priority.variable", "{" + node.priority.variable + "}"))
    return out


def _sets(node: Node, field: str) -> set[str]:
    """Variables a node has set when it continues through ``field``."""
    if isinstance(node, SetNode):
        return set(node.variables)
    if isinstance(node, CollectNode) and field == "next":
        return {node.into}
    if isinstance(node, LookupNode) and field == "next":
        return set(node.results)
    return set()


def _variables(doc: FlowDocument, reachable: set[str]) -> list[FieldError]:
    """Each variable used must be set on every path to its use (a forward must-analysis over the graph)."""
    given = set(BUILTIN_VARIABLES) | set(doc.inputs)
    everything = set(given)
    for node in doc.nodes.values():
        for field, _ in edges(node):
            everything |= _sets(node, field)
    assigned: dict[str, set[str]] = {n: set(everything) for n in reachable}
    assigned[doc.start] = set(given)
    changed = True
    while changed:
        changed = False
        for node_id in sorted(reachable):
            node = doc.nodes[node_id]
            for field, target in edges(node):
                narrowed = assigned[target] & (assigned[node_id] | _sets(node, field))
                if narrowed != assigned[target]:
                    assigned[target] = narrowed
                    changed = True
    errors: list[FieldError] = []
    for node_id in sorted(reachable):
        node = doc.nodes[node_id]
        for field, template in _uses(node):
            try:
                used = speech.fields(template)
            except ValueError as exc:
                errors.append(FieldError(f"nodes.{node_id}.{field}", f"node '{node_id}': {exc}"))
                continue
            for name, _ in used:
                if name not in assigned[node_id]:
                    reason = (
                        f"node '{node_id}' uses variable '{name}', which no node sets"
                        if name not in everything
                        else f"node '{node_id}' uses variable '{name}' before it is set on every path"
                    )
                    errors.append(FieldError(f"nodes.{node_id}.{field}", reason))
        clash = sorted(_sets(node, "next") & BUILTIN_VARIABLES)
        if clash:
            errors.append(
                FieldError(f"nodes.{node_id}", f"node '{node_id}' overwrites the built-in variable {clash[0]}")
            )
    if doc.filler.say is not None and "{" in doc.filler.say:
        errors.append(FieldError("filler.say", "the filler prompt cannot use variables"))
    return errors
