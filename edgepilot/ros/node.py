"""Backend-agnostic, rclpy-style ``Node``: publishers, subscriptions, timers, parameters, clock, logger.

Node code is written once against this API and runs on any backend:

* ``lockstep`` -- all nodes in one process, deterministic, stepped on simulation time (lockstep.py);
* ``dds``      -- separate processes over Cyclone DDS with ROS 2 wire conventions (dds.py);
* ``rclpy``    -- a real ROS 2 install (rclpy_compat.py).

A backend supplies transport (``create_publisher``/``create_subscription``) and, optionally, a time source;
timers, parameters, names and logging live here so their behaviour is identical everywhere.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Protocol

from . import msgs as _msgs
from .clock import Clock, ClockType, Duration, SimTimeSource, Time, wall_time_ns
from .names import apply_remaps, expand_topic_name, node_fqn, normalize_namespace, validate_node_name
from .params import (
    InvalidParameterTypeException,
    Parameter,
    ParameterAlreadyDeclaredException,
    ParameterNotDeclaredException,
    RosArgs,
    SetParametersResult,
    parameter_overrides_for,
    parse_ros_args,
)
from .qos import QoSProfile, as_qos, qos_profile_clock

__all__ = ['Context', 'Node', 'Publisher', 'Subscription', 'Service', 'Client', 'Timer', 'Backend',
           'get_default_context', 'set_default_context', 'NotInitializedError']


class NotInitializedError(RuntimeError):
    """Raised when a node is created before ``edgepilot.ros.init()`` and without an explicit context."""


class Backend(Protocol):
    """What a transport must provide to host nodes."""

    name: str

    def attach_node(self, node: 'Node') -> None: ...

    def detach_node(self, node: 'Node') -> None: ...

    def create_publisher(self, pub: 'Publisher') -> Any: ...

    def create_subscription(self, sub: 'Subscription') -> Any: ...

    def destroy_endpoint(self, endpoint: Any) -> None: ...

    def time_source(self, node: 'Node') -> Callable[[], int] | None: ...

    def wake(self) -> None: ...

    def shutdown(self) -> None: ...


class Context:
    """One initialisation of the middleware: backend, global ``--ros-args`` and the ok/shutdown flag."""

    def __init__(self, backend: Backend, args: list[str] | None = None) -> None:
        self.backend = backend
        self.args: RosArgs = parse_ros_args(args)
        self._ok = True
        self._lock = threading.Lock()
        self._on_shutdown: list[Callable[[], None]] = []
        self.nodes: list[Node] = []

    def ok(self) -> bool:
        return self._ok

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        self._on_shutdown.append(callback)

    def request_shutdown(self) -> None:
        """Async-signal-safe part of shutdown: clear the flag and wake any waiting executor."""
        self._ok = False
        try:
            self.backend.wake()
        except Exception:  # noqa: BLE001 - never raise from a signal handler
            pass

    def shutdown(self) -> None:
        with self._lock:
            if not self._ok and not self.nodes and not self._on_shutdown:
                return
            self._ok = False
            for node in list(self.nodes):
                node.destroy_node()
            callbacks, self._on_shutdown = self._on_shutdown, []
        for cb in callbacks:
            cb()
        self.backend.shutdown()


_default_context: Context | None = None


def get_default_context() -> Context:
    if _default_context is None:
        raise NotInitializedError('edgepilot.ros.init() has not been called; call it first or pass context=')
    return _default_context


def set_default_context(ctx: Context | None) -> None:
    global _default_context
    _default_context = ctx


# ----------------------------------------------------------------------------------------------------------------
# Endpoints
# ----------------------------------------------------------------------------------------------------------------


class Publisher:
    """Typed publisher; ``publish`` accepts the message class it was created with, or pre-serialized CDR bytes."""

    def __init__(self, node: 'Node', msg_type: type, topic: str, qos: QoSProfile) -> None:
        self.node = node
        self.msg_type = msg_type
        self.topic_name = topic
        self.qos_profile = qos
        self.typename = _msgs.message_type_name(msg_type)
        self._impl = node.context.backend.create_publisher(self)

    def publish(self, msg: Any) -> None:
        if isinstance(msg, (bytes, bytearray, memoryview)):
            self._impl.publish_raw(bytes(msg))
            return
        if type(msg) is not self.msg_type:
            raise TypeError(f'publisher on {self.topic_name} expects {self.typename}, got {type(msg).__name__}')
        self._impl.publish(msg)

    def get_subscription_count(self) -> int:
        return self._impl.subscription_count()

    @property
    def topic(self) -> str:
        return self.topic_name

    def destroy(self) -> None:
        self.node.destroy_publisher(self)


class Subscription:
    """Callback subscription; with ``raw=True`` the callback receives the serialized CDR bytes."""

    def __init__(self, node: 'Node', msg_type: type, topic: str, callback: Callable[[Any], None],
                 qos: QoSProfile, raw: bool = False) -> None:
        self.node = node
        self.msg_type = msg_type
        self.topic_name = topic
        self.callback = callback
        self.qos_profile = qos
        self.raw = raw
        self.typename = _msgs.message_type_name(msg_type)
        self._impl = node.context.backend.create_subscription(self)

    def deliver(self, payload: bytes | Any) -> None:
        """Called by the backend's executor: deserialize (unless raw or already a message) and run the callback."""
        if self.raw:
            self.callback(payload if isinstance(payload, (bytes, bytearray, memoryview)) else _msgs.serialize(payload))
            return
        if isinstance(payload, (bytes, bytearray, memoryview)):
            payload = _msgs.deserialize(payload, self.msg_type)
        self.callback(payload)

    @property
    def topic(self) -> str:
        return self.topic_name

    def destroy(self) -> None:
        self.node.destroy_subscription(self)


def _backend_rpc(node: 'Node', method: str) -> Callable[[Any], Any]:
    fn = getattr(node.context.backend, method, None)
    if fn is None:
        raise NotImplementedError(f'the {node.context.backend.name} backend has no services (the dds and lockstep '
                                  f'backends have them; under ROS 2, rclpy does)')
    return fn


class Service:
    """Service server: ``callback(request, response)`` fills and returns the response (rclpy's signature)."""

    def __init__(self, node: 'Node', srv_type: Any, name: str, callback: Callable[[Any, Any], Any],
                 qos: QoSProfile) -> None:
        self.node = node
        self.srv_type = srv_type
        self.srv_name = name
        self.callback = callback
        self.qos_profile = qos
        self.typename = srv_type.__srvtype__
        self._impl = _backend_rpc(node, 'create_service')(self)

    def handle(self, request_cdr: bytes) -> bytes:
        """One request (CDR) -> the response's CDR. A callback that fails or returns no Response is logged and
        answered with a default response, so the caller is not left waiting (the node keeps running)."""
        request = _msgs.deserialize(request_cdr, self.srv_type.Request)
        try:
            response = self.callback(request, self.srv_type.Response())
            if type(response) is not self.srv_type.Response:
                raise TypeError(f'the callback returned {type(response).__name__}, not {self.typename} Response')
        except Exception as exc:  # noqa: BLE001 - a bad request must not take the node down
            self.node.get_logger().error(f'service {self.srv_name}: {exc}')
            response = self.srv_type.Response()
        return _msgs.serialize(response)

    def destroy(self) -> None:
        self.node.destroy_service(self)


class Client:
    """Service client: ``call_async(request)`` returns a Future the executor completes when the reply arrives."""

    def __init__(self, node: 'Node', srv_type: Any, name: str, qos: QoSProfile) -> None:
        from .services import Future
        self._future_cls = Future
        self.node = node
        self.srv_type = srv_type
        self.srv_name = name
        self.qos_profile = qos
        self.typename = srv_type.__srvtype__
        self._seq = 0
        self._pending: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._impl = _backend_rpc(node, 'create_client')(self)

    def service_is_ready(self) -> bool:
        return self._impl.service_is_ready()

    def wait_for_service(self, timeout_sec: float | None = None) -> bool:
        """Wait (polling discovery) until a server of this service is matched; False on timeout.

        Matching is seen from this side first: the server's reply writer may discover our reply reader a moment
        later, and a reply sent before that is lost (volatile). A fresh match therefore gets a short settling
        time before the first request."""
        deadline = None if timeout_sec is None else time.monotonic() + timeout_sec
        fresh = False
        while not self.service_is_ready():
            fresh = True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        if (fresh or not self._seq) and getattr(self._impl, 'needs_settle', True):
            time.sleep(0.1)
        return True

    def call_async(self, request: Any) -> Any:
        if type(request) is not self.srv_type.Request:
            raise TypeError(f'client of {self.srv_name} expects {self.typename} Request, got {type(request).__name__}')
        future = self._future_cls()
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._pending[seq] = future
        self._impl.send(seq, _msgs.serialize(request))
        return future

    def deliver_reply(self, seq: int, response_cdr: bytes) -> None:
        """Called by the backend's executor with a reply meant for this client."""
        with self._lock:
            future = self._pending.pop(seq, None)
        if future is not None:
            future.set_result(_msgs.deserialize(response_cdr, self.srv_type.Response))

    def destroy(self) -> None:
        self.node.destroy_client(self)


class Timer:
    """Periodic timer on the node's clock; executors call ``fire`` when ``next_due_ns`` is reached."""

    def __init__(self, node: 'Node', period_ns: int, callback: Callable[[], None], index: int) -> None:
        if period_ns <= 0:
            raise ValueError(f'timer period must be positive, got {period_ns} ns')
        self.node = node
        self.timer_period_ns = period_ns
        self.callback = callback
        self.index = index
        self._canceled = False
        self.next_due_ns = node.get_clock().now_ns() + period_ns
        self.last_call_ns: int | None = None

    def fire(self, now_ns: int) -> None:
        self.last_call_ns = now_ns
        self.next_due_ns += self.timer_period_ns
        if self.next_due_ns <= now_ns:  # missed periods are skipped, like rcl timers
            missed = (now_ns - self.next_due_ns) // self.timer_period_ns + 1
            self.next_due_ns += missed * self.timer_period_ns
        self.callback()

    def cancel(self) -> None:
        self._canceled = True

    def is_canceled(self) -> bool:
        return self._canceled

    def reset(self) -> None:
        self._canceled = False
        self.next_due_ns = self.node.get_clock().now_ns() + self.timer_period_ns

    def time_until_next_call(self) -> int | None:
        if self._canceled:
            return None
        return self.next_due_ns - self.node.get_clock().now_ns()

    def is_ready(self) -> bool:
        return not self._canceled and self.node.get_clock().now_ns() >= self.next_due_ns

    def destroy(self) -> None:
        self.node.destroy_timer(self)


# ----------------------------------------------------------------------------------------------------------------
# Logging
# ----------------------------------------------------------------------------------------------------------------

_LEVELS = {'debug': logging.DEBUG, 'info': logging.INFO, 'warn': logging.WARNING, 'warning': logging.WARNING,
           'error': logging.ERROR, 'fatal': logging.CRITICAL}


class _RosFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = {'WARNING': 'WARN', 'CRITICAL': 'FATAL'}.get(record.levelname, record.levelname)
        stamp = getattr(record, 'ros_stamp', record.created)
        return f'[{level}] [{stamp:.9f}] [{record.name[len("ros."):]}]: {record.getMessage()}'


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, redirected streams)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _root_logger() -> logging.Logger:
    root = logging.getLogger('ros')
    if not root.handlers:
        handler = _StderrHandler()
        handler.setFormatter(_RosFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return root


class Logger:
    """rclpy-style logger (``info``/``warn``/``error``/``debug``/``fatal``, ``once=``, ``throttle_duration_sec=``)."""

    def __init__(self, name: str, clock: Clock | None = None) -> None:
        _root_logger()
        self.name = name
        self._log = logging.getLogger('ros.' + name)
        self._clock = clock
        self._once: set[tuple[str, int]] = set()
        self._last: dict[tuple[str, int], int] = {}

    def get_child(self, suffix: str) -> 'Logger':
        return Logger(f'{self.name}.{suffix}', self._clock)

    def set_level(self, level: str | int) -> None:
        self._log.setLevel(_LEVELS[level.lower()] if isinstance(level, str) else level)

    def _emit(self, level: int, msg: Any, once: bool = False, throttle_duration_sec: float | None = None,
              skip_first: bool = False, **_ignored: Any) -> bool:
        key = (str(msg) if once else '', level)
        if once:
            if key in self._once:
                return False
            self._once.add(key)
        if throttle_duration_sec is not None:
            now = self._clock.now_ns() if self._clock else wall_time_ns()
            site = (sys._getframe(2).f_code.co_filename, sys._getframe(2).f_lineno)
            last = self._last.get(site)
            if last is None and skip_first:
                self._last[site] = now
                return False
            if last is not None and now - last < throttle_duration_sec * 1e9:
                return False
            self._last[site] = now
        if self._log.isEnabledFor(level):
            stamp = (self._clock.now_ns() if self._clock else wall_time_ns()) / 1e9
            self._log.log(level, '%s', msg, extra={'ros_stamp': stamp})
        return True

    def debug(self, msg: Any, **kw: Any) -> bool:
        return self._emit(logging.DEBUG, msg, **kw)

    def info(self, msg: Any, **kw: Any) -> bool:
        return self._emit(logging.INFO, msg, **kw)

    def warning(self, msg: Any, **kw: Any) -> bool:
        return self._emit(logging.WARNING, msg, **kw)

    warn = warning

    def error(self, msg: Any, **kw: Any) -> bool:
        return self._emit(logging.ERROR, msg, **kw)

    def fatal(self, msg: Any, **kw: Any) -> bool:
        return self._emit(logging.CRITICAL, msg, **kw)


# ----------------------------------------------------------------------------------------------------------------
# Node
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _ParamCallback:
    fn: Callable[[list[Parameter]], SetParametersResult]


class Node:
    """rclpy-compatible node; subclass it and create endpoints in ``__init__``.

    Accepts ``**kwargs`` forwarding (``context``, ``cli_args``, ``parameter_overrides``, ``namespace``) so the same
    class runs under any executor: ``MyNode(context=executor.context)``.
    """

    def __init__(self, node_name: str, *, context: Context | None = None, cli_args: list[str] | None = None,
                 namespace: str | None = None, use_global_arguments: bool = True,
                 parameter_overrides: Iterable[Parameter] | dict[str, Any] | None = None,
                 allow_undeclared_parameters: bool = False,
                 automatically_declare_parameters_from_overrides: bool = False,
                 enable_rosout: bool = True, start_parameter_services: bool = True, **_unused: Any) -> None:
        self.context = context or get_default_context()
        if not self.context.ok():
            raise RuntimeError('context is shut down; cannot create a node')
        local = parse_ros_args(['--ros-args', *cli_args] if cli_args and '--ros-args' not in cli_args else cli_args)
        args = self.context.args.merged(local) if use_global_arguments else local
        self._args = args
        validate_node_name(node_name)
        orig_name = node_name
        self._name = validate_node_name(args.node_name_override(orig_name) or orig_name)
        self._namespace = normalize_namespace(args.namespace_override(orig_name) or namespace or '/')
        self._fqn = node_fqn(self._name, self._namespace)

        self._overrides: dict[str, Any] = parameter_overrides_for(self._name, self._fqn, args)
        if isinstance(parameter_overrides, dict):
            self._overrides.update(parameter_overrides)
        elif parameter_overrides:
            self._overrides.update({p.name: p.value for p in parameter_overrides})
        self._parameters: dict[str, Parameter] = {}
        self._allow_undeclared = allow_undeclared_parameters
        self._param_callbacks: list[_ParamCallback] = []

        self._publishers: list[Publisher] = []
        self._subscriptions: list[Subscription] = []
        self._services: list[Service] = []
        self._clients: list[Client] = []
        self._timers: list[Timer] = []
        self._timer_counter = 0
        self._destroyed = False

        self._wall_source = wall_time_ns
        self._clock = Clock(wall_time_ns, ClockType.ROS_TIME)
        self._logger = Logger(self._fqn.lstrip('/').replace('/', '.'), self._clock)
        if args.log_level:
            level = args.log_level.split(':=')[-1]
            if ':=' not in args.log_level or args.log_level.split(':=')[0] in (self._name, self._fqn.lstrip('/')):
                self._logger.set_level(level)

        self.context.backend.attach_node(self)
        self.context.nodes.append(self)
        backend_source = self.context.backend.time_source(self)
        self._sim_time: SimTimeSource | None = None
        self._clock_sub: Subscription | None = None
        if backend_source is not None:
            self._clock.set_source(backend_source, sim=True)
        self.declare_parameter('use_sim_time', False)
        if backend_source is None and self.get_parameter('use_sim_time').value:
            self._enable_sim_time(True)
        if automatically_declare_parameters_from_overrides:
            for name, value in self._overrides.items():
                if name not in self._parameters:
                    self.declare_parameter(name, value)
        self._parameter_services = None
        if start_parameter_services and getattr(self.context.backend, 'supports_services', False):
            from .services import ParameterServices
            self._parameter_services = ParameterServices(self)   # `ros2 param` / `edgepilot param` reach it

    # ---- identity -------------------------------------------------------------------------------------------
    def get_name(self) -> str:
        return self._name

    def get_namespace(self) -> str:
        return self._namespace

    def get_fully_qualified_name(self) -> str:
        return self._fqn

    def get_logger(self) -> Logger:
        return self._logger

    def get_clock(self) -> Clock:
        return self._clock

    @property
    def publishers(self) -> list[Publisher]:
        return list(self._publishers)

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    @property
    def timers(self) -> list[Timer]:
        return list(self._timers)

    # ---- names ----------------------------------------------------------------------------------------------
    def resolve_topic_name(self, topic: str, *, only_expand: bool = False) -> str:
        """Expanded (namespace, ``~``) and remapped fully qualified topic name."""
        fq = expand_topic_name(topic, self._name, self._namespace)
        return fq if only_expand else apply_remaps(fq, self._args.remaps, self._name, self._namespace)

    # ---- endpoints ------------------------------------------------------------------------------------------
    def _check_alive(self) -> None:
        if self._destroyed:
            raise RuntimeError(f'node {self._fqn} has been destroyed')

    def create_publisher(self, msg_type: type | str, topic: str, qos_profile: QoSProfile | int = 10,
                         **_unused: Any) -> Publisher:
        self._check_alive()
        pub = Publisher(self, _msgs.get_message(msg_type), self.resolve_topic_name(topic), as_qos(qos_profile))
        self._publishers.append(pub)
        return pub

    def create_subscription(self, msg_type: type | str, topic: str, callback: Callable[[Any], None],
                            qos_profile: QoSProfile | int = 10, *, raw: bool = False, **_unused: Any) -> Subscription:
        self._check_alive()
        sub = Subscription(self, _msgs.get_message(msg_type), self.resolve_topic_name(topic), callback,
                           as_qos(qos_profile), raw)
        self._subscriptions.append(sub)
        return sub

    def create_service(self, srv_type: Any, srv_name: str, callback: Callable[[Any, Any], Any],
                       qos_profile: QoSProfile | int = 10, **_unused: Any) -> Service:
        """A service server (DDS and lockstep backends; rclpy's own under ROS 2)."""
        self._check_alive()
        srv = Service(self, _msgs.get_service(srv_type), self.resolve_topic_name(srv_name), callback,
                      as_qos(qos_profile))
        self._services.append(srv)
        return srv

    def create_client(self, srv_type: Any, srv_name: str, qos_profile: QoSProfile | int = 10,
                      **_unused: Any) -> Client:
        self._check_alive()
        cli = Client(self, _msgs.get_service(srv_type), self.resolve_topic_name(srv_name), as_qos(qos_profile))
        self._clients.append(cli)
        return cli

    def destroy_service(self, srv: Service) -> bool:
        if srv in self._services:
            self._services.remove(srv)
            self.context.backend.destroy_endpoint(srv._impl)
            return True
        return False

    def destroy_client(self, cli: Client) -> bool:
        if cli in self._clients:
            self._clients.remove(cli)
            self.context.backend.destroy_endpoint(cli._impl)
            return True
        return False

    @property
    def services(self) -> list[Service]:
        return list(self._services)

    @property
    def clients(self) -> list[Client]:
        return list(self._clients)

    def create_timer(self, timer_period_sec: float, callback: Callable[[], None], **_unused: Any) -> Timer:
        """Timer on this node's clock (sim time under lockstep or use_sim_time); period rounded to ns."""
        self._check_alive()
        timer = Timer(self, int(round(timer_period_sec * 1e9)), callback, self._timer_counter)
        self._timer_counter += 1
        self._timers.append(timer)
        self.context.backend.wake()
        return timer

    def destroy_publisher(self, pub: Publisher) -> bool:
        if pub in self._publishers:
            self._publishers.remove(pub)
            self.context.backend.destroy_endpoint(pub._impl)
            return True
        return False

    def destroy_subscription(self, sub: Subscription) -> bool:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
            self.context.backend.destroy_endpoint(sub._impl)
            return True
        return False

    def destroy_timer(self, timer: Timer) -> bool:
        if timer in self._timers:
            timer.cancel()
            self._timers.remove(timer)
            return True
        return False

    def destroy_node(self) -> None:
        if self._destroyed:
            return
        for pub in list(self._publishers):
            self.destroy_publisher(pub)
        for sub in list(self._subscriptions):
            self.destroy_subscription(sub)
        for srv in list(self._services):
            self.destroy_service(srv)
        for cli in list(self._clients):
            self.destroy_client(cli)
        for timer in list(self._timers):
            self.destroy_timer(timer)
        self._destroyed = True
        self.context.backend.detach_node(self)
        if self in self.context.nodes:
            self.context.nodes.remove(self)

    # ---- parameters -----------------------------------------------------------------------------------------
    def declare_parameter(self, name: str, value: Any = None, descriptor: Any = None,
                          ignore_override: bool = False) -> Parameter:
        """Declare with a default; a command-line/params-file override of a compatible type wins."""
        if isinstance(value, Parameter.Type):  # declare_parameter('x', Parameter.Type.DOUBLE)
            value = None
        if name in self._parameters:
            raise ParameterAlreadyDeclaredException(f'parameter {name!r} already declared on node {self._fqn}')
        default = Parameter(name, value=value)
        param = default
        if not ignore_override and name in self._overrides:
            param = self._coerce(name, self._overrides[name], default.type_)
        self._parameters[name] = param
        return param

    def declare_parameters(self, namespace: str, parameters: list[tuple]) -> list[Parameter]:
        out = []
        for entry in parameters:
            pname = f'{namespace}.{entry[0]}' if namespace else entry[0]
            out.append(self.declare_parameter(pname, *entry[1:2]))
        return out

    def _coerce(self, name: str, value: Any, expected: Parameter.Type) -> Parameter:
        param = Parameter(name, value=value)
        if expected in (Parameter.Type.NOT_SET, param.type_):
            return param
        if expected == Parameter.Type.DOUBLE and param.type_ == Parameter.Type.INTEGER:
            return Parameter(name, Parameter.Type.DOUBLE, float(value))
        if expected == Parameter.Type.DOUBLE_ARRAY and param.type_ == Parameter.Type.INTEGER_ARRAY:
            return Parameter(name, Parameter.Type.DOUBLE_ARRAY, value)
        if param.type_ == Parameter.Type.STRING_ARRAY and not value and expected.name.endswith('_ARRAY'):
            return Parameter(name, expected, [])
        raise InvalidParameterTypeException(
            f'parameter {name!r} on node {self._fqn} is {expected.name}, but the value {value!r} is {param.type_.name}')

    def has_parameter(self, name: str) -> bool:
        return name in self._parameters

    def get_parameter(self, name: str) -> Parameter:
        try:
            return self._parameters[name]
        except KeyError:
            if self._allow_undeclared:
                return Parameter(name, value=self._overrides.get(name))
            raise ParameterNotDeclaredException(
                f'parameter {name!r} is not declared on node {self._fqn}; call declare_parameter({name!r}, default) '
                f'first (declared: {sorted(self._parameters)})') from None

    def get_parameters(self, names: list[str]) -> list[Parameter]:
        return [self.get_parameter(n) for n in names]

    def get_parameter_or(self, name: str, alternative_value: Parameter | None = None) -> Parameter | None:
        return self._parameters.get(name, alternative_value)

    def get_parameters_by_prefix(self, prefix: str) -> dict[str, Parameter]:
        pre = prefix + '.' if prefix else ''
        return {k[len(pre):]: v for k, v in self._parameters.items() if k.startswith(pre)}

    def add_on_set_parameters_callback(self, callback: Callable[[list[Parameter]], SetParametersResult]) -> Any:
        handle = _ParamCallback(callback)
        self._param_callbacks.append(handle)
        return handle

    def remove_on_set_parameters_callback(self, handle: Any) -> None:
        self._param_callbacks = [c for c in self._param_callbacks if c is not handle and c.fn is not handle]

    def set_parameters(self, parameters: list[Parameter]) -> list[SetParametersResult]:
        return [self.set_parameters_atomically([p]) for p in parameters]

    def set_parameters_atomically(self, parameters: list[Parameter]) -> SetParametersResult:
        new = []
        for p in parameters:
            if p.name not in self._parameters and not self._allow_undeclared:
                return SetParametersResult(False, f'parameter {p.name!r} is not declared')
            old = self._parameters.get(p.name)
            try:
                new.append(self._coerce(p.name, p.value, old.type_ if old else Parameter.Type.NOT_SET))
            except InvalidParameterTypeException as exc:
                return SetParametersResult(False, str(exc))
        for cb in self._param_callbacks:
            result = cb.fn(new)
            if not result.successful:
                return result
        for p in new:
            self._parameters[p.name] = p
            if p.name == 'use_sim_time':
                self._enable_sim_time(bool(p.value))
        return SetParametersResult(True)

    # ---- clock ----------------------------------------------------------------------------------------------
    def _enable_sim_time(self, enabled: bool) -> None:
        """use_sim_time: follow /clock (rosgraph_msgs/msg/Clock); lockstep backends always use their sim time."""
        if self.context.backend.time_source(self) is not None:
            return
        if enabled and self._sim_time is None:
            self._sim_time = SimTimeSource()
            self._clock.set_source(self._sim_time, sim=True)
            self._clock_sub = self.create_subscription('rosgraph_msgs/msg/Clock', '/clock', self._on_clock,
                                                       qos_profile_clock)
        elif not enabled and self._sim_time is not None:
            if self._clock_sub is not None:
                self.destroy_subscription(self._clock_sub)
            self._clock_sub = None
            self._sim_time = None
            self._clock.set_source(wall_time_ns, sim=False)

    def _on_clock(self, msg: Any) -> None:
        assert self._sim_time is not None
        self._sim_time.on_clock(msg)
        self.context.backend.wake()

    def __repr__(self) -> str:
        return f'<{type(self).__name__} {self._fqn} on {self.context.backend.name}>'


__all__ += ['Time', 'Duration', 'Logger']
