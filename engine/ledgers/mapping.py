"""Column mapping files (`columns: {表头: target}`, docs/ledgers.md): YAML -> dict.

The file only says which header feeds which target; the targets are checked against the
workflow when a ledger is read (`headers.resolve_mapping`).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ...engine.core.i18n import _
from ..core.errors import InvalidInput, Problem, SourceLoc
from ..core.yamlnodes import compose

__all__ = ["IGNORE", "load_mapping"]

IGNORE = "-"  # mapping target that drops a column on purpose (no warning)


def load_mapping(path: Path) -> dict[str, str]:
    """Read a YAML mapping file (`columns: {表头: target}`; docs/ledgers.md) into a dict.

    A null or `-` target becomes `IGNORE`. Every problem is reported at its line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            [_("{path}: cannot read the mapping file: {reason}").format(path=path, reason=exc)],
            source=str(path)
        ) from exc
    # The shared reader: positions on syntax errors, and alias cycles, bombs and deep nesting
    # refused before anything walks the tree.
    root = compose(text, str(path))
    node = _columns_node(root, path)
    mapping: dict[str, str] = {}
    problems: list[Problem] = []
    for key_node, value_node in node.value:
        target = _mapping_target(value_node)
        if not isinstance(key_node, yaml.ScalarNode) or target is None:
            problems.append(Problem(_loc(path, key_node),
                                    _("expected `header text: target` pairs")))
        elif key_node.value in mapping:
            problems.append(Problem(_loc(path, key_node), _("header {value!r} twice").format(
                                                              value=key_node.value)))
        else:
            mapping[key_node.value] = target
    if problems:
        raise InvalidInput(problems, source=str(path))
    return mapping


def _columns_node(root: yaml.Node | None, path: Path) -> yaml.MappingNode:
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "columns" and isinstance(value_node, yaml.MappingNode):
                return value_node
    where = _loc(path, root) if root is not None else SourceLoc(str(path), 1, 1)
    raise InvalidInput(
        [Problem(where, _("a mapping file needs a `columns:` mapping of header text -> target"))],
        source=str(path),
    )


def _mapping_target(node: yaml.Node) -> str | None:
    """The target text of one mapping value; None when it is not a scalar."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    if node.tag.endswith(":null") or node.value in ("", "~", "null", IGNORE):
        return IGNORE
    return node.value.strip()


def _loc(path: Path, node: yaml.Node) -> SourceLoc:
    return SourceLoc(str(path), node.start_mark.line + 1, node.start_mark.column + 1)

