"""YAML written by people (rules, grammars) is read with limits, so a file cannot make the server do unbounded work.

An alias (``*name``) lets 400 bytes expand into billions of nodes ("billion laughs"): every walk over the tree —
validation, the duplicate-key check — then takes minutes. Neither rules nor grammars need aliases, so a file that
uses one is refused with its line, before any tree is built. Files are capped in size too, and parsed by libyaml.
"""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

#: libyaml when PyYAML was built with it (about 50× faster than the pure-Python parser)
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_hazard(text: str, max_bytes: int) -> tuple[int, str] | None:
    """``(line, reason)`` when the text is too large or uses an alias, else None. Syntax errors are left to the
    parser that follows (it words them better)."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return 1, f"the file has {size // 1024} KB; at most {max_bytes // 1024} KB is read"
    try:
        for event in yaml.parse(text, Loader=SAFE_LOADER):
            if isinstance(event, yaml.AliasEvent):
                line = event.start_mark.line + 1 if event.start_mark is not None else 1
                return line, f"YAML aliases (*{event.anchor}) are not allowed here: write the value out in full"
    except yaml.YAMLError:
        return None
    return None


def duplicate_keys(node: Node | None) -> list[tuple[int, str, int]]:
    """``(line, key, first line)`` for every key a mapping repeats.

    YAML quietly keeps the last of two equal keys: a keyword written twice with two weights, or two targets with one
    name, would lose one of them without a word.
    """
    found: list[tuple[int, str, int]] = []
    if isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                line = key.start_mark.line + 1
                if key.value in first:
                    found.append((line, key.value, first[key.value]))
                else:
                    first[key.value] = line
            found.extend(duplicate_keys(value))
    elif isinstance(node, SequenceNode):
        for item in node.value:
            found.extend(duplicate_keys(item))
    return found
