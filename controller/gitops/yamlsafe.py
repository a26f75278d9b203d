"""YAML loading with a limit on alias expansion (no "billion laughs").

An alias (``*a``) repeats the node its anchor (``&a``) names; nested aliases multiply, so a few hundred bytes
can stand for billions of nodes (https://en.wikipedia.org/wiki/Billion_laughs_attack). PyYAML builds the
repeated node once and shares it, but everything that walks the result (validation, comparison, JSON) expands
it. Each document is measured after composing and before constructing: its size with every alias expanded
must stay within :data:`MAX_EXPANDED_NODES` or ten times its written size, whichever is larger (the Go
``yaml.v3`` that kubectl and the Databricks CLI use refuses "excessive aliasing" the same way). A document
over the limit raises :class:`AliasLimitError`, a ``yaml.YAMLError``, so callers that report YAML errors
report it too.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_EXPANDED_NODES = 100_000
ALIAS_RATIO = 10


class AliasLimitError(yaml.YAMLError):
    """A document whose aliases expand to too many nodes; ``problem`` says how many."""

    def __init__(self, expanded: int, written: int) -> None:
        size = "without end (an alias inside its own anchor)" if expanded < 0 else f"to more than {expanded} nodes"
        self.problem = (
            f"aliases expand the document {size} (written: {written} nodes); refused as an alias bomb "
            "(write the repeated parts out or split the document)"
        )
        self.problem_mark = None
        super().__init__(self.problem)


def _sizes(root: yaml.Node) -> tuple[int, int]:
    """``(distinct nodes, nodes with every alias expanded)`` of the graph under ``root``; iterative, memoised."""
    expanded: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if id(node) in expanded:
            continue
        if not ready and id(node) in visiting:  # an alias inside its own anchor: endless expansion
            raise AliasLimitError(-1, len(expanded))
        visiting.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if ready:
            expanded[id(node)] = 1 + sum(expanded.get(id(c), 1) for c in children)
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in expanded)
    return len(expanded), expanded[id(root)]


def check_aliases(node: yaml.Node | None) -> None:
    """Raise :class:`AliasLimitError` when ``node``'s expanded size is over the limit (see the module doc)."""
    if node is None:
        return
    written, expanded = _sizes(node)
    limit = max(MAX_EXPANDED_NODES, ALIAS_RATIO * written)
    if expanded > limit:
        raise AliasLimitError(limit, written)


class LimitedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document whose aliases expand beyond the limit."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        check_aliases(node)
        return node


def safe_load_all(text: str) -> list[Any]:
    """Every document of ``text`` (as ``yaml.safe_load_all``), refusing alias bombs with :class:`AliasLimitError`."""
    return list(yaml.load_all(text, Loader=LimitedSafeLoader))  # a SafeLoader subclass
