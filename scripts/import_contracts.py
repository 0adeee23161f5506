"""An import-linter contract type of the project's: no import cycles between modules.

Import-linter's own types check layers and siblings; none says "no module imports, directly or
through others, a module that imports it back", a package ``__init__`` and its submodules included.
This one does, on the graph ``lint-imports`` builds (imports under ``TYPE_CHECKING`` are left out
by the ``exclude_type_checking_imports`` setting; imports inside functions count). Configured in
pyproject.toml and run by ``make lint``.
"""

from __future__ import annotations

from typing import Any

from importlinter import Contract, ContractCheck, fields, output


class NoCyclesContract(Contract):
    """``modules``: the packages whose modules (and subpackages') must not import each other in a
    cycle."""

    type_name = "no_cycles"

    modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        roots = [module.name for module in self.modules]  # type: ignore[attr-defined]
        inside = {m for m in graph.modules if any(m == r or m.startswith(r + ".") for r in roots)}
        edges = {m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in inside) for m in inside}
        cycles = [_a_cycle(component, edges) for component in _strong_components(edges) if len(component) > 1]
        return ContractCheck(kept=not cycles, metadata={"cycles": sorted(cycles)})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(" -> ".join([*cycle, cycle[0]]), bold=False)
            output.new_line()


def _strong_components(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _a_cycle(component: list[str], edges: dict[str, list[str]]) -> list[str]:
    """One cycle through the component's first module (a shortest path back to it)."""
    members = set(component)
    start = component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in edges[node]:
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                if target in members and target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return component
