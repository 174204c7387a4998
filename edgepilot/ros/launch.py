"""Run ROS 2 XML launch files without a ROS 2 install.

The same `*.launch.xml` files that `ros2 launch` runs on Humble/Jazzy are parsed here and turned into one
process per `<node>`, with exactly the `--ros-args` command line ros2 launch would give the node, so the
stack can be developed and tested on machines (CI, laptops) that have no ROS 2. Only the subset of the
launch_ros XML frontend that this project needs is accepted; anything else is an error naming the file,
line, element and attribute, rather than being silently ignored (a silently dropped `<remap>` is a bug
that only shows up on the car).

Differences from ros2 launch, on purpose:
- substitutions are evaluated eagerly, in document order;
- `<include>` is scoped: args, `<let>` and pushed namespaces set inside an included file do not leak out;
- a relative `<param from>` / `<include file>` path is looked up in the working directory first (like
  ros2 launch), then next to the launch file that names it.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import xml.parsers.expat
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TextIO

__all__ = [
    "LaunchError",
    "NodeAction",
    "ArgDecl",
    "LaunchDescription",
    "LaunchService",
    "parse_launch_file",
    "find_package_share",
    "package_search_path",
    "resolve_launch_target",
    "default_command",
    "format_command",
    "launch",
    "add_parser",
    "main",
]

PKG_PATH_ENV = "EDGEPILOT_PKG_PATH"
RUN_NODE_MODULE = "edgepilot.ros.run_node"


class LaunchError(Exception):
    """A launch file is malformed, or a node could not be started."""


# --------------------------------------------------------------------------------------------- XML reading


@dataclass
class _Element:
    """One XML element with the line it starts on, so errors can point at it."""

    tag: str
    attrib: dict[str, str]
    children: list["_Element"]
    line: int
    file: Path

    def where(self) -> str:
        return f"{self.file}:{self.line}: <{self.tag}>"


def _read_xml(path: Path) -> _Element:
    """Parse with expat directly: xml.etree's C parser does not report element line numbers."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[_Element] = []
    roots: list[_Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = _Element(tag, dict(attrs), [], parser.CurrentLineNumber, path)
        (stack[-1].children if stack else roots).append(el)
        stack.append(el)

    def end(_tag: str) -> None:
        stack.pop()

    def text(data: str) -> None:
        if data.strip() and stack:
            raise LaunchError(f"{stack[-1].where()}: unexpected text {data.strip()[:40]!r} "
                              f"(launch elements take attributes only)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LaunchError(f"{path}: cannot read launch file: {exc.strerror}") from exc
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise LaunchError(f"{path}:{exc.lineno}: malformed XML: "
                          f"{xml.parsers.expat.errors.messages[exc.code]}") from exc
    return roots[0]


# ------------------------------------------------------------------------------------------------- schema

_COND = frozenset({"if", "unless"})
# Actions allowed directly under <launch> and <group>; names as the launch / launch_ros XML frontends expose them.
_ACTIONS = frozenset({"arg", "include", "node", "group", "let", "set_env", "unset_env",
                      "push-ros-namespace", "push_ros_namespace", "set_parameter", "set_remap"})


@dataclass(frozen=True)
class _Schema:
    attrs: frozenset[str]
    required: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()


def _schema(attrs: Iterable[str], required: Iterable[str] = (), children: Iterable[str] = ()) -> _Schema:
    return _Schema(frozenset(attrs), frozenset(required), frozenset(children))


# Keyed by (parent tag, tag) where the meaning depends on the parent, else by tag.
_SCHEMAS: dict[str | tuple[str, str], _Schema] = {
    "launch": _schema({"version"}, children=_ACTIONS),
    "arg": _schema({"name", "default", "description"} | _COND, {"name"}, {"choice"}),
    "choice": _schema({"value", "description"}, {"value"}),
    ("include", "arg"): _schema({"name", "value"}, {"name", "value"}),
    "include": _schema({"file"} | _COND, {"file"}, {"arg"}),
    "node": _schema({"pkg", "exec", "name", "namespace", "output", "respawn", "respawn_delay", "args",
                     "ros_args", "on_exit", "launch-prefix"} | _COND, {"pkg", "exec"},
                    {"param", "remap", "env"}),
    ("node", "param"): _schema({"name", "value", "from"}, children={"param"}),
    ("param", "param"): _schema({"name", "value"}, {"name"}, {"param"}),
    "remap": _schema({"from", "to"}, {"from", "to"}),
    "env": _schema({"name", "value"}, {"name", "value"}),
    "group": _schema({"scoped"} | _COND, children=_ACTIONS),
    "push-ros-namespace": _schema({"namespace"} | _COND, {"namespace"}),
    "push_ros_namespace": _schema({"namespace"} | _COND, {"namespace"}),
    "let": _schema({"name", "value"} | _COND, {"name", "value"}),
    "set_env": _schema({"name", "value"} | _COND, {"name", "value"}),
    "unset_env": _schema({"name"} | _COND, {"name"}),
    "set_parameter": _schema({"name", "value"} | _COND, {"name", "value"}),
    "set_remap": _schema({"from", "to"} | _COND, {"from", "to"}),
}


def _validate(el: _Element, parent: str | None = None) -> None:
    """Check the whole tree up front, so a typo in a disabled branch is still caught."""
    schema = _SCHEMAS.get((parent, el.tag)) if parent else None
    schema = schema or _SCHEMAS.get(el.tag)
    if schema is None:
        raise LaunchError(f"{el.where()}: unknown element <{el.tag}>")
    for attr in el.attrib:
        if attr not in schema.attrs:
            raise LaunchError(f"{el.where()}: unknown attribute '{attr}' "
                              f"(allowed: {', '.join(sorted(schema.attrs))})")
    for attr in sorted(schema.required):
        if attr not in el.attrib:
            raise LaunchError(f"{el.where()}: missing required attribute '{attr}'")
    if el.tag == "param" and parent == "node":
        has_from, has_name = "from" in el.attrib, "name" in el.attrib
        if has_from == has_name:
            raise LaunchError(f"{el.where()}: give either attribute 'from' (a YAML file) or 'name'")
        if has_from and ("value" in el.attrib or el.children):
            raise LaunchError(f"{el.where()}: attribute 'from' cannot be combined with 'value' or children")
    if el.tag == "param" and "name" in el.attrib and ("value" in el.attrib) == bool(el.children):
        raise LaunchError(f"{el.where()}: parameter '{el.attrib['name']}' needs exactly one of "
                          f"attribute 'value' or nested <param> children")
    for child in el.children:
        if child.tag not in schema.children:
            allowed = ", ".join(f"<{c}>" for c in sorted(schema.children)) or "none"
            known = any(k == child.tag or (isinstance(k, tuple) and k[1] == child.tag) for k in _SCHEMAS)
            what = "element not allowed" if known else f"unknown element <{child.tag}>"
            raise LaunchError(f"{child.where()}: {what} inside <{el.tag}> (allowed: {allowed})")
        _validate(child, el.tag)


# ----------------------------------------------------------------------------------------- package lookup


def _repo_ros_src() -> Path:
    """ros_ws/src of the checkout this package was imported from (editable installs)."""
    return Path(__file__).resolve().parents[2] / "ros_ws" / "src"


def package_search_path() -> list[Path]:
    """Dirs holding packages: $EDGEPILOT_PKG_PATH if set, else this repo's ros_ws/src then ament shares."""
    override = os.environ.get(PKG_PATH_ENV)
    if override:
        return [Path(p) for p in override.split(os.pathsep) if p]
    dirs = [_repo_ros_src()]
    dirs += [Path(p) / "share" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return dirs


def find_package_share(pkg: str) -> Path:
    """Where `$(find-pkg-share pkg)` points: the first search dir with `<pkg>/package.xml`."""
    search = package_search_path()
    for d in search:
        cand = d / pkg
        if (cand / "package.xml").is_file():
            return cand
    raise LaunchError(f"package '{pkg}' not found in {', '.join(map(str, search)) or '(empty path)'} "
                      f"(set {PKG_PATH_ENV} to dirs containing packages)")


# ------------------------------------------------------------------------------------------------ results


@dataclass
class NodeAction:
    """One `<node>` after substitution: everything needed to build its command line."""

    pkg: str
    exec: str
    name: str | None = None
    namespace: str | None = None          # absolute ("/a/b") or None
    params: list[dict[str, str] | Path] = field(default_factory=list)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    respawn: bool = False
    respawn_delay: float = 0.0
    output: str = "log"
    args: list[str] = field(default_factory=list)
    ros_args: list[str] = field(default_factory=list)
    on_exit: str | None = None            # "shutdown": the whole launch stops when this node exits
    launch_prefix: list[str] = field(default_factory=list)
    unset_env: list[str] = field(default_factory=list)
    source: str = ""                      # file:line of the <node> element

    @property
    def required(self) -> bool:
        return self.on_exit == "shutdown"

    @property
    def label(self) -> str:
        return self.name or self.exec

    def ros_arguments(self) -> list[str]:
        """The `--ros-args ...` tail ros2 launch appends: name, namespace, params in order, remaps."""
        out = ["--ros-args", *self.ros_args]
        if self.name:
            out += ["-r", f"__node:={self.name}"]
        if self.namespace:
            out += ["-r", f"__ns:={self.namespace}"]
        for p in self.params:
            if isinstance(p, dict):
                for key, value in p.items():
                    out += ["-p", f"{key}:={value}"]
            else:
                out += ["--params-file", str(p)]
        for src, dst in self.remaps:
            out += ["-r", f"{src}:={dst}"]
        return out


CommandBuilder = Callable[[NodeAction], list[str]]


def default_command(node: NodeAction) -> list[str]:
    """`python -m edgepilot.ros.run_node PKG EXEC [args] --ros-args ...` (run_node finds the entry point)."""
    return [*node.launch_prefix, sys.executable, "-m", RUN_NODE_MODULE, node.pkg, node.exec, *node.args,
            *node.ros_arguments()]


def format_command(node: NodeAction, builder: CommandBuilder = default_command) -> str:
    """Shell-pasteable form, with the node's own environment variables in front."""
    env = [f"{k}={shlex.quote(v)}" for k, v in node.env.items()]
    unset = [f"-u {shlex.quote(k)}" for k in node.unset_env]
    prefix = (["env", *unset] if unset else []) + env
    return " ".join([*prefix, shlex.join(builder(node))])


@dataclass
class ArgDecl:
    name: str
    default: str | None
    description: str
    source: str
    choices: list[str] = field(default_factory=list)


@dataclass
class LaunchDescription:
    """What a launch file expands to."""

    file: Path
    nodes: list[NodeAction]
    arguments: list[ArgDecl]
    configurations: dict[str, str]        # launch configurations at the end of the top-level file
    files: list[Path]                     # every launch file read, includes too
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ substitutions

_SUBSTITUTIONS = ("var", "env", "find-pkg-share", "dirname", "filename")


@dataclass
class _Scope:
    """Launch state that <group scoped> and <include> save and restore."""

    configs: dict[str, str]
    namespace: str = ""
    env: dict[str, str] = field(default_factory=dict)
    unset_env: list[str] = field(default_factory=list)
    global_params: dict[str, str] = field(default_factory=dict)
    global_remaps: list[tuple[str, str]] = field(default_factory=list)

    def copy(self) -> "_Scope":
        return _Scope(dict(self.configs), self.namespace, dict(self.env), list(self.unset_env),
                      dict(self.global_params), list(self.global_remaps))


class _Substituter:
    """Evaluates `$(...)` in one attribute; a small recursive-descent parser so nesting and quotes work."""

    def __init__(self, text: str, scope: _Scope, el: _Element, attr: str):
        self.s, self.i, self.scope, self.el, self.attr = text, 0, scope, el, attr

    def fail(self, msg: str) -> LaunchError:
        return LaunchError(f"{self.el.where()}: attribute '{self.attr}': {msg} in {self.s!r}")

    def run(self) -> str:
        out = self._text(stop="")
        return out

    def _text(self, stop: str) -> str:
        """Literal text with substitutions, up to (not including) a char in `stop` or the end."""
        parts: list[str] = []
        while self.i < len(self.s):
            if self.s.startswith("$(", self.i):
                parts.append(self._substitution())
            elif stop and self.s[self.i] in stop:
                break
            else:
                parts.append(self.s[self.i])
                self.i += 1
        return "".join(parts)

    def _substitution(self) -> str:
        start = self.i
        self.i += 2
        name_end = self.i
        while name_end < len(self.s) and not self.s[name_end].isspace() and self.s[name_end] != ")":
            name_end += 1
        name = self.s[self.i:name_end]
        self.i = name_end
        args: list[str] = []
        while True:
            while self.i < len(self.s) and self.s[self.i].isspace():
                self.i += 1
            if self.i >= len(self.s):
                raise self.fail(f"unterminated substitution starting at column {start + 1}")
            ch = self.s[self.i]
            if ch == ")":
                self.i += 1
                break
            if ch in "'\"":
                self.i += 1
                args.append(self._text(stop=ch))
                if self.i >= len(self.s):
                    raise self.fail(f"unterminated quote in substitution at column {start + 1}")
                self.i += 1
            else:
                args.append(self._text(stop=" \t\n)'\""))
        return self._evaluate(name, args)

    def _evaluate(self, name: str, args: list[str]) -> str:
        def want(lo: int, hi: int) -> None:
            if not lo <= len(args) <= hi:
                n = str(lo) if lo == hi else f"{lo} to {hi}"
                raise self.fail(f"$({name}) takes {n} argument(s), got {len(args)}")

        if name == "var":
            want(1, 1)
            if args[0] not in self.scope.configs:
                known = ", ".join(sorted(self.scope.configs)) or "none"
                raise self.fail(f"unknown launch configuration '{args[0]}' (declare it with <arg>; known: {known})")
            return self.scope.configs[args[0]]
        if name == "env":
            want(1, 2)
            value = self.scope.env.get(args[0], os.environ.get(args[0]))
            if args[0] in self.scope.unset_env and args[0] not in self.scope.env:
                value = None
            if value is None:
                if len(args) == 2:
                    return args[1]
                raise self.fail(f"environment variable '{args[0]}' is not set (use $(env {args[0]} DEFAULT))")
            return value
        if name == "find-pkg-share":
            want(1, 1)
            try:
                return str(find_package_share(args[0]))
            except LaunchError as exc:
                raise self.fail(str(exc)) from None
        if name == "dirname":
            want(0, 0)
            return str(self.el.file.resolve().parent)
        if name == "filename":
            want(0, 0)
            return str(self.el.file.resolve())
        raise self.fail(f"unsupported substitution '$({name})' (supported: {', '.join(_SUBSTITUTIONS)})")


# ------------------------------------------------------------------------------------------------ parsing

_TRUE, _FALSE = ("true", "1"), ("false", "0")


class _Parser:
    def __init__(self) -> None:
        self.nodes: list[NodeAction] = []
        self.arguments: list[ArgDecl] = []
        self.files: list[Path] = []
        self.include_stack: list[Path] = []

    # -- helpers
    def sub(self, el: _Element, attr: str, scope: _Scope, default: str | None = None) -> str | None:
        if attr not in el.attrib:
            return default
        return _Substituter(el.attrib[attr], scope, el, attr).run()

    def req(self, el: _Element, attr: str, scope: _Scope) -> str:
        value = self.sub(el, attr, scope)
        assert value is not None  # required attributes were checked by _validate
        return value

    def boolean(self, el: _Element, attr: str, scope: _Scope, default: bool) -> bool:
        value = self.sub(el, attr, scope)
        if value is None:
            return default
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        raise LaunchError(f"{el.where()}: attribute '{attr}': expected true/false, got {value!r}")

    def enabled(self, el: _Element, scope: _Scope) -> bool:
        if "if" in el.attrib and "unless" in el.attrib:
            raise LaunchError(f"{el.where()}: attributes 'if' and 'unless' cannot both be given")
        if "if" in el.attrib:
            return self.boolean(el, "if", scope, True)
        if "unless" in el.attrib:
            return not self.boolean(el, "unless", scope, False)
        return True

    def resolve_path(self, el: _Element, attr: str, value: str) -> Path:
        path = Path(value).expanduser()
        if not path.is_absolute():
            for base in (Path.cwd(), el.file.resolve().parent):
                if (base / path).exists():
                    return (base / path).resolve()
        if path.exists():
            return path.resolve()
        raise LaunchError(f"{el.where()}: attribute '{attr}': file not found: {value}")

    # -- files
    def parse_file(self, path: Path, scope: _Scope) -> None:
        path = path.resolve()
        if path in self.include_stack:
            chain = " -> ".join(str(p) for p in [*self.include_stack, path])
            raise LaunchError(f"{path}: include cycle: {chain}")
        root = _read_xml(path)
        if root.tag != "launch":
            raise LaunchError(f"{root.where()}: root element must be <launch>")
        _validate(root)
        self.files.append(path)
        self.include_stack.append(path)
        try:
            self.actions(root.children, scope)
        finally:
            self.include_stack.pop()

    def actions(self, elements: list[_Element], scope: _Scope) -> None:
        for el in elements:
            if not self.enabled(el, scope):
                continue
            getattr(self, "do_" + el.tag.replace("-", "_"))(el, scope)

    # -- actions
    def do_arg(self, el: _Element, scope: _Scope) -> None:
        name = self.req(el, "name", scope)
        default = self.sub(el, "default", scope)
        choices = [self.req(c, "value", scope) for c in el.children]
        self.arguments.append(ArgDecl(name, default, el.attrib.get("description", ""),
                                      f"{el.file}:{el.line}", choices))
        if name not in scope.configs:   # CLI args and <include><arg> values were set before
            if default is not None:
                scope.configs[name] = default
            else:
                raise LaunchError(f"{el.where()}: launch argument '{name}' is required but not given "
                                  f"(pass {name}:=VALUE)")
        if choices and scope.configs[name] not in choices:
            raise LaunchError(f"{el.where()}: launch argument '{name}' = {scope.configs[name]!r} "
                              f"is not one of {choices}")

    def do_include(self, el: _Element, scope: _Scope) -> None:
        target = self.resolve_path(el, "file", self.req(el, "file", scope))
        if target.suffix != ".xml":
            raise LaunchError(f"{el.where()}: attribute 'file': only XML launch files can be run without ROS 2, "
                              f"got {target.name}")
        inner = scope.copy()
        for child in el.children:
            inner.configs[self.req(child, "name", scope)] = self.req(child, "value", scope)
        self.parse_file(target, inner)

    def do_group(self, el: _Element, scope: _Scope) -> None:
        scoped = self.boolean(el, "scoped", scope, True)
        self.actions(el.children, scope.copy() if scoped else scope)

    def do_push_ros_namespace(self, el: _Element, scope: _Scope) -> None:
        scope.namespace = _join_namespace(scope.namespace, self.req(el, "namespace", scope))

    def do_let(self, el: _Element, scope: _Scope) -> None:
        scope.configs[self.req(el, "name", scope)] = self.req(el, "value", scope)

    def do_set_env(self, el: _Element, scope: _Scope) -> None:
        name = self.req(el, "name", scope)
        scope.env[name] = self.req(el, "value", scope)
        if name in scope.unset_env:
            scope.unset_env.remove(name)

    def do_unset_env(self, el: _Element, scope: _Scope) -> None:
        name = self.req(el, "name", scope)
        scope.env.pop(name, None)
        if name not in scope.unset_env:
            scope.unset_env.append(name)

    def do_set_parameter(self, el: _Element, scope: _Scope) -> None:
        scope.global_params[self.req(el, "name", scope)] = self.req(el, "value", scope)

    def do_set_remap(self, el: _Element, scope: _Scope) -> None:
        scope.global_remaps.append((self.req(el, "from", scope), self.req(el, "to", scope)))

    def do_node(self, el: _Element, scope: _Scope) -> None:
        node = NodeAction(pkg=self.req(el, "pkg", scope), exec=self.req(el, "exec", scope),
                          name=self.sub(el, "name", scope) or None, source=f"{el.file}:{el.line}")
        namespace = _join_namespace(scope.namespace, self.sub(el, "namespace", scope, ""))
        node.namespace = namespace or None
        node.output = self.sub(el, "output", scope, "log") or "log"
        if node.output not in ("screen", "log", "both"):
            raise LaunchError(f"{el.where()}: attribute 'output': expected screen, log or both, got {node.output!r}")
        node.respawn = self.boolean(el, "respawn", scope, False)
        delay = self.sub(el, "respawn_delay", scope, "0")
        try:
            node.respawn_delay = float(delay or 0)
        except ValueError:
            raise LaunchError(f"{el.where()}: attribute 'respawn_delay': expected seconds, got {delay!r}") from None
        if node.respawn_delay < 0:
            raise LaunchError(f"{el.where()}: attribute 'respawn_delay': must be >= 0, got {delay!r}")
        node.args = shlex.split(self.sub(el, "args", scope, "") or "")
        node.ros_args = shlex.split(self.sub(el, "ros_args", scope, "") or "")
        node.launch_prefix = shlex.split(self.sub(el, "launch-prefix", scope, "") or "")
        on_exit = self.sub(el, "on_exit", scope)
        if on_exit is not None and on_exit != "shutdown":
            raise LaunchError(f"{el.where()}: attribute 'on_exit': only 'shutdown' is supported, got {on_exit!r}")
        node.on_exit = on_exit
        if node.respawn and node.required:
            raise LaunchError(f"{el.where()}: attributes 'respawn' and 'on_exit=\"shutdown\"' contradict each other")
        node.env = dict(scope.env)
        node.unset_env = list(scope.unset_env)
        if scope.global_params:
            node.params.append(dict(scope.global_params))
        node.remaps = list(scope.global_remaps)
        for child in el.children:
            if child.tag == "param":
                self.node_param(child, scope, node)
            elif child.tag == "remap":
                node.remaps.append((self.req(child, "from", scope), self.req(child, "to", scope)))
            elif child.tag == "env":
                name = self.req(child, "name", scope)
                node.env[name] = self.req(child, "value", scope)
                if name in node.unset_env:
                    node.unset_env.remove(name)
        self.nodes.append(node)

    def node_param(self, el: _Element, scope: _Scope, node: NodeAction) -> None:
        if "from" in el.attrib:
            node.params.append(self.resolve_path(el, "from", self.req(el, "from", scope)))
            return
        flat: dict[str, str] = {}
        self.flatten_param(el, scope, "", flat)
        if node.params and isinstance(node.params[-1], dict):
            node.params[-1].update(flat)
        else:
            node.params.append(flat)

    def flatten_param(self, el: _Element, scope: _Scope, prefix: str, out: dict[str, str]) -> None:
        """`<param name="a"><param name="b" value="1"/></param>` is the parameter `a.b`."""
        name = prefix + self.req(el, "name", scope)
        if "value" in el.attrib:
            out[name] = self.req(el, "value", scope)
        for child in el.children:
            self.flatten_param(child, scope, name + ".", out)


def _join_namespace(base: str, ns: str) -> str:
    """ROS rule: a relative namespace goes under the pushed one; an absolute one replaces it."""
    ns = ns.strip()
    if ns.startswith("/"):
        return "/" + ns.strip("/")
    joined = "/".join(p for p in (base.strip("/"), ns.strip("/")) if p)
    return "/" + joined if joined else ""


def parse_launch_file(path: str | os.PathLike[str], args: Mapping[str, str] | None = None) -> LaunchDescription:
    """Expand a launch file with `args` (the CLI's `name:=value`) into NodeActions."""
    path = Path(path)
    cli_args = dict(args or {})
    parser = _Parser()
    scope = _Scope(configs=dict(cli_args))   # as in ros2 launch: CLI args are configurations from the start
    parser.parse_file(path, scope)
    declared = {a.name for a in parser.arguments}
    warnings = [f"launch argument '{name}' was given but no <arg> declares it" for name in cli_args
                if name not in declared]
    return LaunchDescription(path.resolve(), parser.nodes, parser.arguments, scope.configs, parser.files, warnings)


def parse_cli_args(tokens: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tok in tokens:
        name, sep, value = tok.partition(":=")
        if not sep or not name:
            raise LaunchError(f"launch argument {tok!r} is not of the form name:=value")
        out[name] = value
    return out


def resolve_launch_target(tokens: Sequence[str]) -> tuple[Path, dict[str, str]]:
    """`FILE [a:=b ...]` or `PKG FILE.launch.xml [a:=b ...]` → (launch file path, args)."""
    positional = [t for t in tokens if ":=" not in t]
    args = parse_cli_args(t for t in tokens if ":=" in t)
    if len(positional) == 1:
        path = Path(positional[0])
        if not path.is_file():
            raise LaunchError(f"launch file not found: {path}")
        return path, args
    if len(positional) == 2:
        pkg, name = positional
        share = find_package_share(pkg)
        cand = share / "launch" / name
        if cand.is_file():
            return cand, args
        found = sorted(p for p in share.rglob(name) if p.is_file())
        if found:
            return found[0], args
        raise LaunchError(f"launch file '{name}' not found in package '{pkg}' ({share})")
    raise LaunchError(f"expected FILE or PKG FILE before the name:=value args, got {positional}")


# ---------------------------------------------------------------------------------------------- execution

READER_JOIN_TIMEOUT_S = 10.0
_CLEAN_ON_SHUTDOWN = {0, -signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM}


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def interrupt_process_group(popen: subprocess.Popen, grace_s: float = 20.0) -> int:
    """Stop a launch started with `start_new_session=True` as Ctrl-C would (SIGINT to its whole process group, so
    every node shuts down cleanly), then SIGKILL the group if it is still running after `grace_s`. Returns the
    launch's exit code."""
    try:
        os.killpg(popen.pid, signal.SIGINT)
    except ProcessLookupError:
        return popen.wait()
    try:
        return popen.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(popen.pid, signal.SIGKILL)
        return popen.wait()


def _stop_signal_ignored() -> bool:
    """True when this process ignores SIGINT or SIGTERM, which its children would inherit through exec."""
    return any(signal.getsignal(s) is signal.SIG_IGN for s in (signal.SIGINT, signal.SIGTERM))


def _default_stop_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM back to their defaults. A launch started where SIGINT is
    ignored (a `&` job of a non-interactive shell, nohup) would otherwise pass that on, and a Python node that
    starts with SIGINT ignored never gets KeyboardInterrupt: it could not shut down cleanly on Ctrl-C or when a
    required node exits, and would be killed by SIGTERM after the timeout with its last words lost."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class _Proc:
    node: NodeAction
    label: str
    popen: subprocess.Popen[bytes] | None = None
    readers: list[threading.Thread] = field(default_factory=list)
    stderr_tail: deque[str] = field(default_factory=lambda: deque(maxlen=10))
    next_start: float | None = None
    finished: bool = False
    starts: int = 0
    last_code: int | None = None


class LaunchService:
    """Runs NodeActions as child processes, with ros2 launch's shutdown and respawn behaviour.

    Each child gets its own process group so that Ctrl-C reaches the launcher only and the launcher can
    stop the nodes in order (SIGINT, then SIGTERM, then SIGKILL), grandchildren included.
    """

    def __init__(self, nodes: Sequence[NodeAction], *, command_builder: CommandBuilder = default_command,
                 stdout: TextIO | None = None, stderr: TextIO | None = None,
                 sigint_timeout: float = 5.0, sigterm_timeout: float = 5.0, handle_signals: bool = True,
                 tail_lines: int = 10):
        self.command_builder = command_builder
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.sigint_timeout = sigint_timeout
        self.sigterm_timeout = sigterm_timeout
        self.handle_signals = handle_signals
        self.crashed: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._shutdown_reason: str | None = None
        self._escalate = False
        self._procs: list[_Proc] = []
        seen: dict[str, int] = {}
        for node in nodes:
            label = node.label
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label}-{seen[label]}"
            self._procs.append(_Proc(node, label, stderr_tail=deque(maxlen=tail_lines)))

    # -- output
    def _emit(self, stream: TextIO, text: str) -> None:
        with self._lock:
            stream.write(text)
            stream.flush()

    def log(self, msg: str) -> None:
        self._emit(self.stderr, f"[launch] {msg}\n")

    def _pump(self, proc: _Proc, pipe, stream: TextIO, keep_tail: bool) -> None:
        with pipe:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if keep_tail:
                    proc.stderr_tail.append(line)
                self._emit(stream, f"[{proc.label}] {line}\n")

    # -- process control
    def _start(self, proc: _Proc) -> None:
        node = proc.node
        cmd = self.command_builder(node)
        env = dict(os.environ)
        for key in node.unset_env:
            env.pop(key, None)
        env.update(node.env)
        env.setdefault("PYTHONUNBUFFERED", "1")   # so prefixed lines arrive when printed, not at exit
        proc.stderr_tail.clear()
        try:
            popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, process_group=0,
                                     preexec_fn=_default_stop_signals if _stop_signal_ignored() else None)
        except OSError as exc:
            self.log(f"ERROR: cannot start node '{proc.label}' ({node.source}): {exc}")
            proc.finished, proc.last_code = True, 127
            self.crashed.append((proc.label, 127))
            if node.required:
                self.request_shutdown(f"required node '{proc.label}' could not start")
            return
        proc.popen, proc.next_start = popen, None
        proc.starts += 1
        proc.readers = [
            threading.Thread(target=self._pump, args=(proc, popen.stdout, self.stdout, False), daemon=True),
            threading.Thread(target=self._pump, args=(proc, popen.stderr, self.stderr, True), daemon=True),
        ]
        for t in proc.readers:
            t.start()
        verb = "respawned" if proc.starts > 1 else "started"
        self.log(f"{verb} node '{proc.label}' (pid {popen.pid})")

    def _join_readers(self, proc: _Proc) -> None:
        # The node has exited: its last lines are in the pipe. Wait for them (a loaded CPU may not schedule the
        # reader for a while: 1 s lost lines in CI) but not forever (a grandchild may hold the pipe open).
        for t in proc.readers:
            t.join(timeout=READER_JOIN_TIMEOUT_S)

    def _reap(self, proc: _Proc, code: int, shutting_down: bool) -> None:
        self._join_readers(proc)
        proc.popen, proc.last_code = None, code
        node = proc.node
        clean = code == 0 or (shutting_down and code in _CLEAN_ON_SHUTDOWN)
        if clean:
            self.log(f"node '{proc.label}' exited cleanly ({_describe_exit(code)})")
        else:
            self.crashed.append((proc.label, code))
            lines = "".join(f"\n    {line}" for line in proc.stderr_tail)
            tail = f"; last stderr lines:{lines}" if lines else "; no stderr output"
            self.log(f"ERROR: node '{proc.label}' crashed: {_describe_exit(code)}{tail}")
        if shutting_down:
            proc.finished = True
        elif node.respawn:
            proc.next_start = time.monotonic() + node.respawn_delay
            self.log(f"respawning node '{proc.label}' in {node.respawn_delay:g} s")
        else:
            proc.finished = True
            if node.required:
                self.request_shutdown(f"required node '{proc.label}' exited ({_describe_exit(code)})")

    def request_shutdown(self, reason: str) -> None:
        """Only sets flags, so it is safe in a signal handler (taking a lock there can deadlock the loop that
        holds it); the run loop polls them. A second request skips the remaining grace periods."""
        if self._shutdown_reason is not None:
            self._escalate = True
        else:
            self._shutdown_reason = reason

    def _signal_handler(self, signum: int, _frame) -> None:
        self.request_shutdown(f"received {signal.Signals(signum).name}")

    def _send(self, proc: _Proc, sig: int) -> None:
        if proc.popen is None:
            return
        try:
            os.killpg(proc.popen.pid, sig)
        except ProcessLookupError:
            pass

    def _wait_all(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._escalate:
            running = [p for p in self._procs if p.popen is not None]
            if not running:
                return
            for p in running:
                code = p.popen.poll()
                if code is not None:
                    self._reap(p, code, shutting_down=True)
            time.sleep(0.02)

    def _shutdown(self) -> None:
        self.log(f"shutting down: {self._shutdown_reason}")
        for p in self._procs:
            p.next_start = None
            if p.popen is None:
                p.finished = True
        for sig, timeout in ((signal.SIGINT, self.sigint_timeout), (signal.SIGTERM, self.sigterm_timeout),
                             (signal.SIGKILL, 5.0)):
            running = [p for p in self._procs if p.popen is not None]
            if not running:
                return
            if sig != signal.SIGINT:
                names = ", ".join(f"'{p.label}'" for p in running)
                self.log(f"escalating to {sig.name} for {names}")
                self._escalate = False
            for p in running:
                self._send(p, sig)
            self._wait_all(timeout)
        for p in self._procs:   # SIGKILL cannot be ignored; reap whatever is left
            if p.popen is not None:
                self._reap(p, p.popen.wait(), shutting_down=True)

    def run(self) -> int:
        """Start all nodes and supervise them; returns 0 only if no node crashed."""
        install = self.handle_signals and threading.current_thread() is threading.main_thread()
        previous = {}
        if install:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, self._signal_handler)
        try:
            if not self._procs:
                self.log("no nodes to launch")
                return 0
            for p in self._procs:
                if self._shutdown_reason is None:
                    self._start(p)
            must_finish = [p for p in self._procs if not p.node.respawn]
            while self._shutdown_reason is None:
                now = time.monotonic()
                for p in self._procs:
                    if p.popen is not None:
                        code = p.popen.poll()
                        if code is not None:
                            self._reap(p, code, shutting_down=False)
                    elif p.next_start is not None and now >= p.next_start and self._shutdown_reason is None:
                        self._start(p)
                if must_finish and all(p.finished for p in must_finish):
                    if self._shutdown_reason is None:
                        self._shutdown_reason = "all nodes exited"
                    break
                time.sleep(0.02)
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.crashed:
            summary = ", ".join(f"'{name}' ({_describe_exit(code)})" for name, code in self.crashed)
            self.log(f"ERROR: node(s) crashed: {summary}")
            return 1
        return 0


# -------------------------------------------------------------------------------------------- entry points


def launch(file: str | os.PathLike[str], args: Mapping[str, str] | None = None, *, dry_run: bool = False,
           command_builder: CommandBuilder = default_command, stdout: TextIO | None = None,
           stderr: TextIO | None = None, **service_options) -> int:
    """Parse and run a launch file (or only print its commands); returns the process exit status."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    desc = parse_launch_file(file, args)
    for warning in desc.warnings:
        stderr.write(f"[launch] WARNING: {warning}\n")
    if dry_run:
        for node in desc.nodes:
            stdout.write(f"# {node.label} ({node.source})\n{format_command(node, command_builder)}\n")
        return 0
    service = LaunchService(desc.nodes, command_builder=command_builder, stdout=stdout, stderr=stderr,
                            **service_options)
    return service.run()


def _show_args(desc_file: Path, out: TextIO) -> None:
    """List the top file's <arg> declarations without evaluating them (required args may be missing)."""
    root = _read_xml(desc_file.resolve())
    _validate(root)
    for el in root.children:
        if el.tag == "arg":
            default = el.attrib.get("default")
            shown = f"(default: {default!r})" if default is not None else "(required)"
            out.write(f"'{el.attrib['name']}': {el.attrib.get('description', '')} {shown}\n")


def _cmd_launch(ns: argparse.Namespace) -> int:
    try:
        path, args = resolve_launch_target(ns.target)
        if ns.show_args:
            _show_args(path, sys.stdout)
            return 0
        return launch(path, args, dry_run=ns.dry_run)
    except LaunchError as exc:
        sys.stderr.write(f"edgepilot launch: error: {exc}\n")
        return 2


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `launch FILE|PKG FILE [name:=value ...] [--dry-run]` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "launch",
        help="run a ROS 2 XML launch file without ROS 2 (one process per <node>)",
        description="Run a ROS 2 *.launch.xml file without a ROS 2 install. Each <node> becomes a "
                    "`python -m edgepilot.ros.run_node PKG EXEC --ros-args ...` process with the arguments "
                    "ros2 launch would pass. Ctrl-C stops all nodes (SIGINT, then SIGTERM, then SIGKILL).",
    )
    p.add_argument("target", nargs="+", metavar="FILE|PKG FILE [name:=value ...]",
                   help="a launch file path, or a package and a file in its launch/ dir, then launch arguments")
    p.add_argument("--dry-run", "--print", dest="dry_run", action="store_true",
                   help="print the command line of each node instead of running them")
    p.add_argument("-s", "--show-args", dest="show_args", action="store_true",
                   help="list the launch file's arguments and exit")
    p.set_defaults(func=_cmd_launch)

    # argparse stops filling `target` at the first option, so `launch F --dry-run a:=b` would reject `a:=b`;
    # collect such trailing positionals here (works whatever top-level parse_args the main CLI uses).
    def parse_known_args(args=None, namespace=None):
        ns, rest = argparse.ArgumentParser.parse_known_args(p, args, namespace)
        ns.target = [*ns.target, *(a for a in rest if not a.startswith("-"))]
        return ns, [a for a in rest if a.startswith("-")]

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgepilot.ros.launch")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    ns = parser.parse_args(["launch", *(sys.argv[1:] if argv is None else argv)])
    return ns.func(ns)


if __name__ == "__main__":
    sys.exit(main())
