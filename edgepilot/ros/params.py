"""Parameters and ``--ros-args`` parsing (remaps, ``-p``, ``--params-file``) with rcl's precedence rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import yaml

from .names import RemapRule

__all__ = [
    'Parameter', 'ParameterError', 'ParameterNotDeclaredException', 'ParameterAlreadyDeclaredException',
    'InvalidParameterTypeException', 'RosArgs', 'parse_ros_args', 'load_params_file', 'parameter_overrides_for',
    'SetParametersResult',
]


class ParameterError(Exception):
    """Base class of parameter errors."""


class ParameterNotDeclaredException(ParameterError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ''


class ParameterAlreadyDeclaredException(ParameterError):
    pass


class InvalidParameterTypeException(ParameterError, TypeError):
    pass


@dataclass
class SetParametersResult:
    successful: bool = True
    reason: str = ''


class Parameter:
    """A named, typed value (rclpy.parameter.Parameter look-alike)."""

    class Type(IntEnum):
        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_value(cls, value: Any) -> 'Parameter.Type':
            if value is None:
                return cls.NOT_SET
            if isinstance(value, bool):
                return cls.BOOL
            if isinstance(value, int):
                return cls.INTEGER
            if isinstance(value, float):
                return cls.DOUBLE
            if isinstance(value, str):
                return cls.STRING
            if isinstance(value, (bytes, bytearray)):
                return cls.BYTE_ARRAY
            if isinstance(value, (list, tuple)):
                if all(isinstance(v, bool) for v in value) and value:
                    return cls.BOOL_ARRAY
                if all(isinstance(v, int) and not isinstance(v, bool) for v in value) and value:
                    return cls.INTEGER_ARRAY
                if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and value:
                    return cls.DOUBLE_ARRAY
                if all(isinstance(v, str) for v in value):
                    return cls.STRING_ARRAY  # empty list -> STRING_ARRAY like rclpy
            raise InvalidParameterTypeException(f'unsupported parameter value {value!r} ({type(value).__name__})')

    def __init__(self, name: str, type_: 'Parameter.Type | None' = None, value: Any = None) -> None:
        if type_ is not None and not isinstance(type_, Parameter.Type):  # Parameter('x', 3) convenience
            type_, value = None, type_
        if type_ is None:
            type_ = Parameter.Type.from_value(value)
        if type_ == Parameter.Type.DOUBLE and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type_ == Parameter.Type.DOUBLE_ARRAY and value is not None:
            value = [float(v) for v in value]
        if isinstance(value, tuple):
            value = list(value)
        self.name = name
        self.type_ = type_
        self.value = value

    def get_parameter_value(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f'Parameter({self.name!r}, {self.type_.name}, {self.value!r})'

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parameter) and (self.name, self.type_, self.value) == (other.name, other.type_, other.value)


def parse_param_value(text: str) -> Any:
    """``-p name:=value``: the value is YAML-typed as in rcl ('3' int, '3.0' float, 'true' bool, '[1, 2]' list)."""
    try:
        return yaml.safe_load(text) if text != '' else ''
    except yaml.YAMLError:
        return text


@dataclass
class RosArgs:
    """Parsed ``--ros-args`` sections of a command line."""

    remaps: list[RemapRule] = field(default_factory=list)
    params: list[tuple[str | None, str, Any]] = field(default_factory=list)  # (node or None, name, value)
    params_files: list[str] = field(default_factory=list)
    log_level: str | None = None
    non_ros_args: list[str] = field(default_factory=list)

    def node_name_override(self, node_name: str) -> str | None:
        return self._special(('__node', '__name'), node_name)

    def namespace_override(self, node_name: str) -> str | None:
        return self._special(('__ns',), node_name)

    def _special(self, keys: tuple[str, ...], node_name: str) -> str | None:
        value = None
        for rule in self.remaps:
            if rule.match in keys and rule.applies_to(node_name):
                value = rule.replacement
        return value

    def merged(self, other: 'RosArgs') -> 'RosArgs':
        """Global args first, then node-local args (local remaps are checked first, like rcl)."""
        return RosArgs(
            remaps=other.remaps + self.remaps,
            params=self.params + other.params,
            params_files=self.params_files + other.params_files,
            log_level=other.log_level or self.log_level,
            non_ros_args=self.non_ros_args + other.non_ros_args,
        )


def parse_ros_args(argv: list[str] | None) -> RosArgs:
    """Parse a full argv (or just the part after ``--ros-args``); unknown ROS flags raise ValueError."""
    out = RosArgs()
    if not argv:
        return out
    argv = list(argv)
    in_ros = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == '--ros-args':
            in_ros = True
            i += 1
            continue
        if not in_ros:
            out.non_ros_args.append(arg)
            i += 1
            continue
        if arg == '--':
            in_ros = False
            i += 1
            continue

        def value() -> str:
            if i + 1 >= len(argv):
                raise ValueError(f'{arg} needs a value')
            return argv[i + 1]

        if arg in ('-r', '--remap'):
            out.remaps.append(RemapRule.parse(value()))
            i += 2
        elif arg in ('-p', '--param'):
            text = value()
            if ':=' not in text:
                raise ValueError(f"invalid parameter argument {text!r}: expected 'name:=value'")
            lhs, rhs = text.split(':=', 1)
            node = None
            if ':' in lhs:
                node, lhs = lhs.split(':', 1)
            out.params.append((node, lhs, parse_param_value(rhs)))
            i += 2
        elif arg == '--params-file':
            out.params_files.append(value())
            i += 2
        elif arg == '--log-level':
            out.log_level = value()
            i += 2
        elif arg in ('-e', '--enclave'):
            i += 2
        elif arg in ('--enable-rosout-logs', '--disable-rosout-logs', '--enable-stdout-logs', '--disable-stdout-logs',
                     '--enable-external-lib-logs', '--disable-external-lib-logs'):
            i += 1
        else:
            raise ValueError(f'unknown ROS argument {arg!r}')
    return out


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f'{prefix}.{k}' if prefix else str(k), v, out)
    else:
        out[prefix] = value


def _key_regex(key: str) -> re.Pattern:
    """Params-file node key -> regex on the node FQN ('/**' any, '*' one token, leading '/' optional)."""
    key = '/' + key.strip('/')
    parts = []
    for tok in key.split('/')[1:]:
        if tok == '**':
            parts.append('(/[^/]+)*')
        else:
            parts.append('/' + re.escape(tok).replace(r'\*', '[^/]*'))
    return re.compile('^' + ''.join(parts) + '$')


def _key_matches(key: str, node_name: str, node_fq: str) -> bool:
    if '/' not in key and '*' not in key:
        return key == node_name  # lenient: bare 'name' matches that node in any namespace
    return bool(_key_regex(key).match(node_fq))


def _key_rank(key: str) -> int:
    """Precedence: wildcard keys, then bare node names, then exact fully-qualified keys."""
    if '*' in key:
        return 0
    return 1 if '/' not in key else 2


def load_params_file(path: str | Path) -> list[tuple[str, dict[str, Any]]]:
    """[(node key, flat params)] in file order; namespaces may be nested keys above ``ros__parameters``.

    Keys: ``/ns/node``, ``ns: {node: ...}``, ``/**`` (all nodes), ``/ns/*`` and a bare ``node`` (matches that
    node name in any namespace -- lenient compared to rcl, which treats it as ``/node``).
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParameterError(f'parameter file not found: {path}') from None
    except yaml.YAMLError as exc:
        raise ParameterError(f'invalid YAML in parameter file {path}: {exc}') from exc
    if data is None:
        return []
    if not isinstance(data, dict):
        raise ParameterError(f'parameter file {path}: top level must be a mapping of node names')
    entries: list[tuple[str, dict[str, Any]]] = []

    def walk(prefix: str, node: Any) -> None:
        if not isinstance(node, dict):
            raise ParameterError(f'parameter file {path}: {prefix!r} must map to ros__parameters')
        for key, val in node.items():
            if key == 'ros__parameters':
                flat: dict[str, Any] = {}
                _flatten('', val or {}, flat)
                entries.append((prefix or '/', flat))
            else:
                key = str(key)
                # keep the leading '/' information of a top-level key: a bare 'name' matches in any namespace
                walk(f'{prefix}/{key.strip("/")}' if prefix or key.startswith('/') else key.strip('/'), val)

    walk('', data)
    return entries


def parameter_overrides_for(node_name: str, node_fq: str, args: RosArgs) -> dict[str, Any]:
    """Overrides for one node: params files in order (wildcard entries before exact ones), then ``-p`` flags."""
    out: dict[str, Any] = {}
    for path in args.params_files:
        entries = [(k, v) for k, v in load_params_file(path) if _key_matches(k, node_name, node_fq)]
        entries.sort(key=lambda kv: _key_rank(kv[0]))  # stable: file order within each group
        for _key, values in entries:
            out.update(values)
    for node, name, value in args.params:
        if node is None or node == node_name or node == node_fq:
            out[name] = value
    return out
