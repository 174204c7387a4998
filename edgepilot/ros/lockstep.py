"""Deterministic in-process backend: all nodes in one process, stepped on simulation time.

Semantics (documented because tests and the integrator rely on them):

* Time is an integer nanosecond simulation clock shared by every node of the executor (``use_sim_time`` is
  implied; nobody needs to publish /clock, though publishing it works like any topic).
* ``spin_until(t_ns)`` repeatedly picks the next due timer, ordered by (due time, node add order, timer creation
  order), sets the clock to its due time, runs step hooks registered for that instant, fires the timer, and then
  delivers pending messages until quiescent before the next timer. Finally the clock is set to ``t_ns``.
* Delivery is FIFO in publish order across all topics (one global queue); each subscription's KEEP_LAST depth is
  honoured by dropping its oldest undelivered message. Messages published outside callbacks (e.g. in ``__init__``)
  are delivered at the next ``spin_*`` call.
* Copy semantics: ``publish`` serializes the message once (XCDR1, the same codec as the DDS backend) and every
  subscriber gets its own deserialized copy. This is the cheapest option that is always safe: the publisher may
  mutate or reuse its message, subscribers may mutate theirs, and type/range errors surface at publish time as on
  the wire. A 256x512 RGB image costs well under a millisecond.
* TRANSIENT_LOCAL publishers keep their last ``depth`` messages for late-joining TRANSIENT_LOCAL subscriptions.
* BEST_EFFORT vs RELIABLE makes no difference in-process (nothing is lost), except that a RELIABLE subscription
  does not match a BEST_EFFORT publisher, as in DDS.
* Services: a request and its reply are queued like messages (FIFO with the topics), so ``call_async`` completes
  during the next ``spin_*``; a client is ready as soon as a server of that name and type exists.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable

from . import msgs as _msgs
from .node import Context, Node, Publisher, Subscription, Timer

__all__ = ['LockstepExecutor', 'LockstepBackend', 'QuiescenceError']


class QuiescenceError(RuntimeError):
    """Message delivery did not settle (e.g. two nodes republishing to each other forever)."""


@dataclass
class _Event:
    sub: '_LsSub'
    payload: bytes
    dropped: bool = False


@dataclass
class _LsSub:
    sub: Subscription
    pending: deque = field(default_factory=deque)


class _LsPub:
    def __init__(self, backend: 'LockstepBackend', pub: Publisher) -> None:
        self.backend = backend
        self.pub = pub
        self.history: deque[bytes] | None = (
            deque(maxlen=None if pub.qos_profile.keep_all else pub.qos_profile.depth)
            if pub.qos_profile.is_transient_local else None)

    def publish(self, msg: Any) -> None:
        self.publish_raw(_msgs.serialize(msg))

    def publish_raw(self, data: bytes) -> None:
        if self.history is not None:
            self.history.append(data)
        self.backend._enqueue(self.pub, data)

    def subscription_count(self) -> int:
        return sum(1 for s in self.backend._subs.get(self.pub.topic_name, []) if self.backend._matches(self.pub, s.sub))


class _LsTarget:
    """A queue endpoint for service traffic: the delivery loop treats it like a subscription."""

    def __init__(self, name: str, deliver: Callable[[Any], None]) -> None:
        self.pending: deque = deque()
        self.sub = SimpleNamespace(topic_name=name, deliver=deliver)


class _LsService:
    def __init__(self, backend: 'LockstepBackend', srv: Any) -> None:
        self.backend, self.srv = backend, srv


class _LsClient:
    """Requests and replies go through the executor's one delivery queue, in order with the topics' messages."""

    needs_settle = False

    def __init__(self, backend: 'LockstepBackend', cli: Any) -> None:
        self.backend, self.cli = backend, cli

    def _server(self) -> Any:
        for srv in self.backend._services.get(self.cli.srv_name, ()):
            if srv.srv.typename == self.cli.typename:
                return srv.srv
        return None

    def service_is_ready(self) -> bool:
        return self._server() is not None

    def send(self, seq: int, request_cdr: bytes) -> None:
        cli = self.cli

        def on_request(cdr: bytes) -> None:
            server = self._server()
            if server is None:      # the server went away: the request is lost, as on the wire
                return
            reply = server.handle(cdr)
            self.backend._push_call(f'{cli.srv_name} (reply)', lambda r: cli.deliver_reply(seq, r), reply)

        self.backend._push_call(f'{cli.srv_name} (request)', on_request, request_cdr)


class LockstepBackend:
    """Transport for a ``LockstepExecutor``; not used directly."""

    name = 'lockstep'
    supports_services = True

    def __init__(self, executor: 'LockstepExecutor') -> None:
        self.executor = executor
        self._subs: dict[str, list[_LsSub]] = {}
        self._pubs: dict[str, list[_LsPub]] = {}
        self._queue: deque[_Event] = deque()
        self._types: dict[str, str] = {}
        self._services: dict[str, list[_LsService]] = {}

    # Backend protocol --------------------------------------------------------------------------------------
    def attach_node(self, node: Node) -> None:
        self.executor._register(node)

    def detach_node(self, node: Node) -> None:
        self.executor._unregister(node)

    def time_source(self, node: Node) -> Callable[[], int]:
        return self.executor.now_ns

    def wake(self) -> None:
        pass

    def shutdown(self) -> None:
        self._queue.clear()

    def _check_type(self, topic: str, typename: str) -> None:
        known = self._types.setdefault(topic, typename)
        if known != typename:
            raise TypeError(f'topic {topic} already carries {known}; cannot use it with {typename}')

    @staticmethod
    def _matches(pub: Publisher, sub: Subscription) -> bool:
        return pub.qos_profile.is_reliable or not sub.qos_profile.is_reliable

    def create_publisher(self, pub: Publisher) -> _LsPub:
        self._check_type(pub.topic_name, pub.typename)
        impl = _LsPub(self, pub)
        self._pubs.setdefault(pub.topic_name, []).append(impl)
        return impl

    def create_subscription(self, sub: Subscription) -> _LsSub:
        self._check_type(sub.topic_name, sub.typename)
        impl = _LsSub(sub)
        self._subs.setdefault(sub.topic_name, []).append(impl)
        if sub.qos_profile.is_transient_local:
            for pub in self._pubs.get(sub.topic_name, []):
                if pub.history is not None and self._matches(pub.pub, sub):
                    for data in pub.history:
                        self._push(impl, data)
        return impl

    def create_service(self, srv: Any) -> _LsService:
        impl = _LsService(self, srv)
        self._services.setdefault(srv.srv_name, []).append(impl)
        return impl

    def create_client(self, cli: Any) -> _LsClient:
        return _LsClient(self, cli)

    def _push_call(self, name: str, deliver: Callable[[Any], None], payload: Any) -> None:
        target = _LsTarget(name, deliver)
        ev = _Event(target, payload)
        target.pending.append(ev)
        self._queue.append(ev)

    def destroy_endpoint(self, endpoint: Any) -> None:
        if isinstance(endpoint, _LsService):
            impls = self._services.get(endpoint.srv.srv_name, [])
            if endpoint in impls:
                impls.remove(endpoint)
            return
        if isinstance(endpoint, _LsSub):
            subs = self._subs.get(endpoint.sub.topic_name, [])
            if endpoint in subs:
                subs.remove(endpoint)
            for ev in endpoint.pending:
                ev.dropped = True
            endpoint.pending.clear()
        elif isinstance(endpoint, _LsPub):
            pubs = self._pubs.get(endpoint.pub.topic_name, [])
            if endpoint in pubs:
                pubs.remove(endpoint)

    # Delivery ----------------------------------------------------------------------------------------------
    def _enqueue(self, pub: Publisher, data: bytes) -> None:
        for impl in self._subs.get(pub.topic_name, ()):
            if self._matches(pub, impl.sub):
                self._push(impl, data)

    def _push(self, impl: _LsSub, data: bytes) -> None:
        ev = _Event(impl, data)
        impl.pending.append(ev)
        qos = impl.sub.qos_profile
        if not qos.keep_all and len(impl.pending) > qos.depth:
            impl.pending.popleft().dropped = True
        self._queue.append(ev)

    def drain(self, max_messages: int) -> int:
        """Deliver until no message is pending; returns how many callbacks ran."""
        count = 0
        queue = self._queue
        while queue:
            ev = queue.popleft()
            if ev.dropped:
                continue
            ev.sub.pending.popleft()
            count += 1
            if count > max_messages:
                raise QuiescenceError(f'more than {max_messages} messages delivered without settling; '
                                      f'last topic {ev.sub.sub.topic_name}')
            ev.sub.sub.deliver(ev.payload)
        return count


class LockstepExecutor:
    """Runs nodes deterministically on a simulated clock (see module docstring).

    Example::

        ex = LockstepExecutor()
        sim = SimNode(context=ex.context)       # nodes are added in creation order
        acc = AccNode(context=ex.context)
        ex.spin_until(10 * 10**9)               # 10 s of simulated time
    """

    def __init__(self, start_ns: int = 0, *, args: list[str] | None = None, max_messages_per_step: int = 1_000_000) -> None:
        self._now = int(start_ns)
        self.backend = LockstepBackend(self)
        self.context = Context(self.backend, args)
        self._nodes: list[Node] = []
        self._hooks: list[Callable[[int], None]] = []
        self.max_messages_per_step = max_messages_per_step
        self.steps = 0

    # Nodes ---------------------------------------------------------------------------------------------------
    def _register(self, node: Node) -> None:
        self._nodes.append(node)

    def _unregister(self, node: Node) -> None:
        if node in self._nodes:
            self._nodes.remove(node)

    def add_node(self, node: Node) -> bool:
        """Nodes register themselves on creation; this only checks they belong to this executor."""
        if node.context is not self.context:
            raise ValueError(f'{node!r} was created with another context; pass context=executor.context')
        return True

    def create_node(self, node_cls: type, *args: Any, **kwargs: Any) -> Node:
        """``node_cls(*args, context=self.context, **kwargs)``."""
        return node_cls(*args, context=self.context, **kwargs)

    def get_nodes(self) -> list[Node]:
        return list(self._nodes)

    def add_step_hook(self, hook: Callable[[int], None]) -> None:
        """``hook(now_ns)`` runs each time the clock advances to a new instant, before that instant's timers."""
        self._hooks.append(hook)

    # Time ------------------------------------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self._now

    def now(self):
        from .clock import Time
        return Time(self._now)

    def _next_timer(self) -> tuple[int, int, int, Timer] | None:
        best = None
        for n_idx, node in enumerate(self._nodes):
            for timer in node._timers:
                if timer.is_canceled():
                    continue
                key = (timer.next_due_ns, n_idx, timer.index)
                if best is None or key < best[:3]:
                    best = (*key, timer)
        return best

    def spin_some(self) -> int:
        """Deliver pending messages without advancing time."""
        return self.backend.drain(self.max_messages_per_step)

    def step(self, until_ns: int | None = None) -> bool:
        """Fire the next due timer (if due at or before ``until_ns``); returns False when none was due."""
        self.spin_some()
        nxt = self._next_timer()
        if nxt is None or (until_ns is not None and nxt[0] > until_ns):
            return False
        due, _n, _t, timer = nxt
        if due > self._now:
            self._now = due
            for hook in self._hooks:
                hook(due)
            self.spin_some()
        if not timer.is_canceled() and timer.next_due_ns <= self._now:
            timer.fire(self._now)
            self.steps += 1
        self.spin_some()
        return True

    def spin_until(self, t_ns: int) -> None:
        """Advance simulation time to ``t_ns`` firing every timer due on the way."""
        t_ns = int(t_ns)
        if t_ns < self._now:
            raise ValueError(f'cannot go back in time: now {self._now} ns, asked for {t_ns} ns')
        while self.context.ok() and self.step(t_ns):
            pass
        if t_ns > self._now:
            self._now = t_ns
            for hook in self._hooks:
                hook(t_ns)
        self.spin_some()

    def spin_for(self, seconds: float) -> None:
        self.spin_until(self._now + int(round(seconds * 1e9)))

    def shutdown(self) -> None:
        self.context.shutdown()

