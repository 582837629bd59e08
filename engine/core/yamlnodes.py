"""Safe YAML reading that keeps every node's line and column, shared by every input-file loader.

The loader is PyYAML's SafeLoader with one change: only `true`/`false` are booleans, so states or
choices called `on`, `off`, `yes` or `no` stay strings (YAML 1.1 would turn them into booleans).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from .errors import InvalidInput, Problem, SourceLoc
from .i18n import _


class StrictBoolLoader(yaml.SafeLoader):
    """SafeLoader whose booleans are only true/false (any case)."""


StrictBoolLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictBoolLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


class _LibyamlStrictBoolLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The same resolvers over libyaml's parser (when PyYAML was built with it): the same nodes
    with the same marks, several times faster. Only for text already checked (`trusted`)."""

    yaml_implicit_resolvers = StrictBoolLoader.yaml_implicit_resolvers


STANDARD_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "timestamp"))


def compose(text: str, file: str, *, trusted: bool = False) -> yaml.Node | None:
    """Parse YAML text into a node tree; a syntax error becomes InvalidInput with its position.

    Tags beyond plain YAML data (`!!python/object`, custom `!tags`) are refused, not ignored.
    `trusted`: the text composed here without error before (a stored workflow version), so
    libyaml may parse it (faster, for the cold start); should it fail, the pure-Python parser
    runs again so that any error reads as it always did."""
    root = _compose_trusted(text) if trusted else None
    try:
        if root is None:
            _refuse_deep_nesting(text, file)
            root = yaml.compose(text, Loader=StrictBoolLoader)
    except RecursionError as exc:
        raise InvalidInput([Problem(SourceLoc(file, 1, 1), _("YAML nested too deeply"))],
                           source=file) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = SourceLoc(file, mark.line + 1, mark.column + 1) if mark else SourceLoc(file, 1, 1)
        raise InvalidInput([Problem(loc, _("YAML syntax: {problem}").format(
                                             problem=exc.problem))], source=file) from exc
    except yaml.YAMLError as exc:
        raise InvalidInput([Problem(SourceLoc(file, 1, 1), _("YAML: {exc}").format(
                                                               exc=exc))], source=file) from exc
    _refuse_tags(root, file)
    return root


def _refuse_deep_nesting(text: str, file: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH from the parser's events, before the (recursive)
    composer meets it: a quick error at its line instead of a slow RecursionError."""
    depth = 0
    for event in yaml.parse(text, Loader=StrictBoolLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                loc = SourceLoc(file, event.start_mark.line + 1, event.start_mark.column + 1)
                raise InvalidInput([Problem(loc, _("YAML nested deeper than {MAX_DEPTH} "
                                                   "levels").format(MAX_DEPTH=MAX_DEPTH))],
                                   source=file)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _compose_trusted(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_LibyamlStrictBoolLoader)
    except (yaml.YAMLError, RecursionError):
        return None


# Bounds on the node graph a file may describe. Aliases share nodes, so a small file can name a
# cycle (`a: &a [*a]`) or an exponential fan-out (billion laughs) that every reader downstream
# would walk for ever; the expanded size may exceed the file's own node count only by this
# factor (plus slack), which no honest file needs. Nesting deeper than MAX_DEPTH would only
# reach recursive readers' stack limits.
MAX_DEPTH = 100
ALIAS_FACTOR = 10
ALIAS_SLACK = 10_000


def _refuse_tags(root: yaml.Node | None, file: str) -> None:
    """Check the node graph: standard tags only, no alias cycles, bounded expansion and depth.

    One iterative walk over the distinct nodes (each visited once), computing each node's
    expanded size from its children's, so a bomb is measured without being expanded."""
    if root is None:
        return
    problems: list[Problem] = []
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, list[yaml.Node]]] = []
    _enter(root, stack, on_path, problems, file)
    while stack:
        node, pending = stack[-1]
        if pending:
            child = pending.pop()
            if id(child) in on_path:
                raise _bomb(file, child, _("YAML alias refers to itself (a cycle)"))
            if id(child) not in sizes:
                if len(stack) >= MAX_DEPTH:
                    raise _bomb(file, child, _("YAML nested deeper than {levels} levels").format(
                        levels=MAX_DEPTH))
                _enter(child, stack, on_path, problems, file)
            continue
        stack.pop()
        on_path.discard(id(node))
        sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
        if sizes[id(node)] > ALIAS_FACTOR * len(sizes) + ALIAS_SLACK:
            raise _bomb(file, node, _("YAML aliases expand to too many values (an alias bomb)"))
    if problems:
        raise InvalidInput(problems, source=file)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _enter(node: yaml.Node, stack: list[tuple[yaml.Node, list[yaml.Node]]], on_path: set[int],
           problems: list[Problem], file: str) -> None:
    if node.tag not in STANDARD_TAGS:
        loc = SourceLoc(file, node.start_mark.line + 1, node.start_mark.column + 1)
        problems.append(Problem(loc, _("YAML tag '{tag}' is not allowed: plain data only").format(
                                         tag=node.tag)))
    on_path.add(id(node))
    stack.append((node, _children(node)))


def _bomb(file: str, node: yaml.Node, message: str) -> InvalidInput:
    loc = SourceLoc(file, node.start_mark.line + 1, node.start_mark.column + 1)
    return InvalidInput([Problem(loc, message)], source=file)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a choice is close, else ''."""
    close = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return _(" (did you mean '{name}'?)").format(name=close[0]) if close else ""


class NodeReader:
    """Walks a composed YAML tree, converting scalars and collecting problems instead of raising."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def loc(self, node: yaml.Node) -> SourceLoc:
        return SourceLoc(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def error(self, node: yaml.Node | SourceLoc, message: str) -> None:
        loc = node if isinstance(node, SourceLoc) else self.loc(node)
        self.problems.append(Problem(loc, message))

    def mapping(
        self, node: yaml.Node, what: str, allowed: Iterable[str], required: Iterable[str] = ()
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Key -> (key node, value node); reports unknown, duplicate and missing keys."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, _("{what} must be a mapping of keys to values").format(
                                 what=what))
            return {}
        allowed = list(allowed)
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                self.error(key_node, _("{what}: key '{key}' appears twice").format(
                                         what=what, key=key))
            elif key not in allowed:
                self.error(
                    key_node,
                    _("{what}: unknown key '{key}'{did_you_mean}; allowed keys: {join}").format(
                        what=what, key=key, did_you_mean=did_you_mean(key, allowed),
                        join=', '.join(allowed)),
                )
            else:
                out[key] = (key_node, value_node)
        for key in required:
            if key not in out:
                self.error(node, _("{what}: missing required key '{key}'").format(
                                     what=what, key=key))
        return out

    def entries(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """An open mapping (names chosen by the admin): [(name, key node, value node)]."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, _("{what} must be a mapping").format(what=what))
            return []
        seen: set[str] = set()
        out = []
        for key_node, value_node in node.value:
            name = str(key_node.value)
            if name in seen:
                self.error(key_node, _("{what}: '{name}' is defined twice").format(
                                         what=what, name=name))
                continue
            seen.add(name)
            out.append((name, key_node, value_node))
        return out

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, _("{what} must be a single value, not a list or mapping").format(
                                 what=what))
            return None
        return _construct(node)

    def string(self, node: yaml.Node, what: str) -> str | None:
        value = self.scalar(node, what)
        return None if value is None else str(value)

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = self.scalar(node, what)
        if not isinstance(value, bool):
            self.error(node, _("{what} must be true or false, got {value!r}").format(
                                 what=what, value=value))
            return False
        return value

    def inner_folder(self, node: yaml.Node | None, what: str) -> str | None:
        """A folder named relative to the file being read and inside its folder: no absolute
        path, no `..` (an admin's templates must not reach the rest of the disk)."""
        value = None if node is None else self.string(node, what)
        if node is None or value is None:
            return None
        parts = PurePath(value.replace("\\", "/")).parts
        if PurePosixPath(value).is_absolute() or PureWindowsPath(value).anchor or ".." in parts:
            self.error(node, _("{what} must be a folder inside the workflow file's folder "
                               "(no absolute path, no '..'), got {value!r}").format(
                                 what=what, value=value))
            return None
        return value

    def strings(self, node: yaml.Node, what: str) -> list[tuple[str, SourceLoc]]:
        """A list of names, or a single name; each with its own location."""
        if isinstance(node, yaml.ScalarNode):
            value = self.string(node, what)
            return [(value, self.loc(node))] if value else []
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, _("{what} must be a name or a list of names").format(
                                 what=what))
            return []
        out = []
        for child in node.value:
            value = self.string(child, what)
            if value is not None:
                out.append((value, self.loc(child)))
        return out


_CONSTRUCTOR = yaml.SafeLoader("")


def _construct(node: yaml.ScalarNode) -> Any:
    """A scalar node's Python value; StrictBoolLoader resolved its tag at compose time."""
    build = _CONSTRUCTOR.yaml_constructors.get(node.tag)
    try:
        return build(_CONSTRUCTOR, node) if build else str(node.value)
    except (ValueError, yaml.constructor.ConstructorError):
        return str(node.value)
