"""ROS 2 name expansion and remapping (topics, node name, namespace) as rcl does it."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ['InvalidNameError', 'normalize_namespace', 'expand_topic_name', 'RemapRule', 'apply_remaps', 'node_fqn']

_TOKEN = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')


class InvalidNameError(ValueError):
    """A topic, node or namespace name that ROS would reject."""


def normalize_namespace(ns: str) -> str:
    """'' -> '/', 'a/b' -> '/a/b', '/a/' -> '/a'; validates tokens."""
    ns = (ns or '').strip()
    if not ns.startswith('/'):
        ns = '/' + ns
    if len(ns) > 1:
        ns = ns.rstrip('/')
    for tok in ns.split('/')[1:]:
        if tok and not _TOKEN.match(tok):
            raise InvalidNameError(f'invalid namespace {ns!r}: bad token {tok!r}')
        if not tok and ns != '/':
            raise InvalidNameError(f'invalid namespace {ns!r}: empty token')
    return ns


def validate_node_name(name: str) -> str:
    if not _TOKEN.match(name or ''):
        raise InvalidNameError(f'invalid node name {name!r}: use letters, digits and _, not starting with a digit')
    return name


def node_fqn(name: str, namespace: str) -> str:
    ns = normalize_namespace(namespace)
    return f'/{name}' if ns == '/' else f'{ns}/{name}'


def expand_topic_name(name: str, node_name: str, namespace: str) -> str:
    """Fully qualified name: relative names join the namespace, '~' is the node's private namespace."""
    if not name:
        raise InvalidNameError('empty topic name')
    ns = normalize_namespace(namespace)
    name = name.replace('{node}', node_name).replace('{ns}', ns).replace('{namespace}', ns)
    if name.startswith('~'):
        rest = name[1:]
        if rest and not rest.startswith('/'):
            raise InvalidNameError(f"invalid topic name {name!r}: '~' must be followed by '/'")
        fq = node_fqn(node_name, ns) + rest
    elif name.startswith('/'):
        fq = name
    else:
        fq = ('' if ns == '/' else ns) + '/' + name
    if fq.endswith('/') and fq != '/':
        raise InvalidNameError(f'invalid topic name {name!r}: trailing slash')
    for tok in fq.split('/')[1:]:
        if not _TOKEN.match(tok):
            raise InvalidNameError(f'invalid topic name {name!r} (expanded {fq!r}): bad token {tok!r}')
    return fq


@dataclass(frozen=True)
class RemapRule:
    """``[node:]from:=to`` from the command line."""

    match: str
    replacement: str
    node: str | None = None

    @classmethod
    def parse(cls, text: str) -> 'RemapRule':
        if ':=' not in text:
            raise InvalidNameError(f"invalid remap rule {text!r}: expected 'from:=to'")
        lhs, rhs = text.split(':=', 1)
        node = None
        if ':' in lhs:
            node, lhs = lhs.split(':', 1)
        if not lhs or not rhs:
            raise InvalidNameError(f"invalid remap rule {text!r}: expected 'from:=to'")
        return cls(lhs, rhs, node)

    def applies_to(self, node_name: str) -> bool:
        return self.node is None or self.node == node_name


def apply_remaps(fq_name: str, rules: list[RemapRule], node_name: str, namespace: str) -> str:
    """First matching topic remap rule wins (rcl semantics); both sides are expanded first."""
    for rule in rules:
        if rule.match.startswith('__') or not rule.applies_to(node_name):
            continue
        try:
            src = expand_topic_name(rule.match, node_name, namespace)
        except InvalidNameError:
            continue
        if src == fq_name:
            return expand_topic_name(rule.replacement, node_name, namespace)
    return fq_name
