"""YAML as a config may be written, and no bigger: a bounded ``safe_load``.

A few hundred bytes of anchors (a "billion laughs"), a value nested thousands deep, a million-item
list or a number of ten thousand digits would otherwise cost minutes, gigabytes or a
``RecursionError`` before any validation runs. ``load_yaml`` stops at the first of:

- ``MAX_DEPTH`` levels of nesting (libyaml itself stops at 1000, before the composer sees them);
- ``MAX_NODES`` values in the document, counting what aliases expand to;
- an integer of more than ``MAX_NUMBER_CHARS`` characters;
- a key given twice in one mapping (YAML would silently keep the last one).

``check_shape`` applies the same depth and size bounds to a config given as a Python dict.
Each refusal is a ``YamlRefused`` naming the key path (``parameters.mqtt-topic[3]``) and the line.

The events come from libyaml when PyYAML has it (``yaml.CParser``, some twenty times faster than
the pure-Python scanner) and the nodes from PyYAML's Python composer, extended here with the bounds:
the C loader composes in C, where no bound could be added.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

MAX_DEPTH = 32
MAX_NODES = 10_000
MAX_NUMBER_CHARS = 40
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"


class YamlRefused(Exception):
    """The document is valid YAML but beyond what a config may be."""

    def __init__(self, problem: str, path: str = "", line: int | None = None) -> None:
        self.problem, self.path, self.line = problem, path, line
        if len(path) > 100:  # the head names the field, the tail where inside it
            path = f"{path[:60]}...{path[-30:]}"
        where = f"{path}: " if path else ""
        at = f" (line {line})" if line is not None else ""
        super().__init__(f"{where}{problem}{at}")

    def without_path(self) -> str:
        """The message without the keys of the document (for a file that may not be a config)."""
        at = f" (line {self.line})" if self.line is not None else ""
        return f"{self.problem}{at}"


def load_yaml(text: str) -> Any:
    """Parse one YAML document with the bounds above; ``yaml.YAMLError`` for invalid YAML."""
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def check_shape(data: Any) -> None:
    """The bounds of ``load_yaml`` for data that did not come from YAML (a dict, possibly cyclic)."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    nodes = 0
    while stack:
        value, path, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise YamlRefused(f"more than {MAX_NODES} values in the config")
        if depth > MAX_DEPTH:
            raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", path)
        if isinstance(value, dict):
            stack.extend((v, _join(path, str(k)), depth + 1) for k, v in value.items())
        elif isinstance(value, list | tuple):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))


def _join(path: str, key: str) -> str:
    key = key if len(key) <= 40 else key[:40] + "..."
    return f"{path}.{key}" if path else key


if yaml.__with_libyaml__:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _Events(CParser):
        """YAML events from libyaml."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Events(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        """YAML events from PyYAML's pure-Python scanner and parser."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _BoundedLoader(Composer, SafeConstructor, Resolver, _Events):
    def __init__(self, stream: str) -> None:
        _Events.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0
        self._nodes = 0
        self._path: list[str] = []
        self._sizes: dict[int, int] = {}

    def _where(self) -> str:
        path = ""
        for part in self._path:
            path = path + part if part.startswith("[") else _join(path, part)
        return path

    def _count(self, amount: int, line: int) -> None:
        self._nodes += amount
        if self._nodes > MAX_NODES:
            raise YamlRefused(
                f"more than {MAX_NODES} values in the config (aliases count as what they expand to)",
                self._where(), line)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event is not None and event.start_mark else None
        pushed = self._push(parent, index)
        try:
            if isinstance(event, yaml.AliasEvent):
                target = self.anchors.get(event.anchor)
                if target is not None:
                    self._count(self._size(target), line or 0)
                return super().compose_node(parent, index)
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    raise YamlRefused(f"nested deeper than {MAX_DEPTH} levels", self._where(), line)
                self._count(1, line or 0)
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        finally:
            if pushed:
                self._path.pop()

    def _push(self, parent: Node | None, index: Any) -> bool:
        if isinstance(parent, SequenceNode) and isinstance(index, int):
            self._path.append(f"[{index}]")
            return True
        if isinstance(parent, MappingNode) and isinstance(index, ScalarNode):
            self._path.append(str(index.value))
            return True
        return False

    def _size(self, node: Node) -> int:
        """How many values ``node`` stands for once every alias inside it is expanded."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        size = 1
        if isinstance(node, SequenceNode):
            size += sum(self._size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            size += sum(self._size(k) + self._size(v) for k, v in node.value)
        self._sizes[id(node)] = size
        return size

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], int] = {}
        for key, _value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            ident, line = (key.tag, key.value), key.start_mark.line + 1
            if ident in seen:
                raise YamlRefused(f"given twice (lines {seen[ident]} and {line}); a key may appear once",
                                  _join(self._where(), key.value))
            seen[ident] = line
        return node

    def compose_scalar_node(self, anchor: Any) -> ScalarNode:
        node: ScalarNode = super().compose_scalar_node(anchor)
        if node.tag == _INT_TAG and len(node.value) > MAX_NUMBER_CHARS:
            raise YamlRefused(f"a number of more than {MAX_NUMBER_CHARS} characters", self._where(),
                              node.start_mark.line + 1)
        return node
