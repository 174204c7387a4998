"""``python -m edgepilot.ros.run_node PKG EXEC [--ros-args ...]`` -- the ``ros2 run`` of EdgePilot.

``PKG EXEC`` resolves through the entry-point group ``edgepilot.nodes`` (name ``PKG.EXEC``, value
``module:NodeClass`` or ``module:main``). ``module:Attr`` may be given directly instead of ``PKG EXEC``.
The node runs on the dds backend (rclpy when importable, or ``EDGEPILOT_ROS_BACKEND``) until SIGINT/SIGTERM;
exit status 0 on clean shutdown, 1 with a message on stderr when it crashes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from importlib.metadata import entry_points
from typing import Any, Callable

from . import init, shutdown, spin
from .node import Node

__all__ = ['resolve_target', 'run', 'main_for', 'main', 'ENTRY_POINT_GROUP']

ENTRY_POINT_GROUP = 'edgepilot.nodes'


class TargetNotFound(LookupError):
    pass


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(':')
    if not module or not attr:
        raise TargetNotFound(f"expected 'module:attribute', got {ref!r}")
    obj = importlib.import_module(module)
    for part in attr.split('.'):
        obj = getattr(obj, part)
    return obj


def resolve_target(pkg_or_ref: str, executable: str | None = None) -> Any:
    """A Node subclass or a ``main(args)`` callable for ``PKG EXEC`` or ``module:attr``."""
    if executable is None or ':' in pkg_or_ref:
        return _load(pkg_or_ref)
    name = f'{pkg_or_ref}.{executable}'
    eps = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not eps:
        known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise TargetNotFound(f"no executable '{executable}' in package '{pkg_or_ref}' (entry point {name!r} in group "
                             f"{ENTRY_POINT_GROUP!r}); known: {', '.join(known) or 'none'}")
    return eps[0].load()


def _default_backend() -> str:
    return os.environ.get('EDGEPILOT_ROS_BACKEND', 'auto')


def run(target: Any, args: list[str] | None = None, *, backend: str | None = None) -> int:
    """Run a Node class (or a main function) with ROS args; returns the exit status."""
    args = list(sys.argv if args is None else args)
    if inspect.isclass(target) and issubclass(target, Node):
        ctx = init(args, backend=backend or _default_backend())
        try:
            node = target()
            spin(node)
        finally:
            shutdown(ctx)
        return 0
    if callable(target):
        result = target(args)
        return int(result or 0)
    raise TypeError(f'{target!r} is neither a Node subclass nor a main function')


def main_for(node_cls: type[Node]) -> Callable[[list[str] | None], int]:
    """``main = main_for(MyNode)`` gives a node module a ``main(args=None)`` entry point."""

    def main(args: list[str] | None = None) -> int:
        return run(node_cls, args)

    main.__doc__ = f'Run {node_cls.__name__} until SIGINT/SIGTERM.'
    return main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    head = argv[:argv.index('--ros-args')] if '--ros-args' in argv else argv
    rest = argv[len(head):]
    if not head:
        print('usage: python -m edgepilot.ros.run_node PKG EXEC [--ros-args ...] | module:Attr [--ros-args ...]',
              file=sys.stderr)
        return 2
    if ':' in head[0]:
        target_args, extra = (head[0], None), head[1:]
    elif len(head) >= 2:
        target_args, extra = (head[0], head[1]), head[2:]
    else:
        print(f'run_node: need PKG EXEC or module:Attr, got {head!r}', file=sys.stderr)
        return 2
    try:
        target = resolve_target(*target_args)
    except (TargetNotFound, ImportError, AttributeError) as exc:
        print(f'run_node: {exc}', file=sys.stderr)
        return 2
    try:
        return run(target, [sys.argv[0] if sys.argv else 'run_node', *extra, *rest])
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # noqa: BLE001 - report any crash with a non-zero status
        traceback.print_exc()
        print(f'run_node: {":".join(target_args[:1])} crashed: {type(exc).__name__}: {exc}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
