"""`edgepilot topic list|info|type|echo|hz`, `node list|info`, `bag record|info` and `viz`: the `ros2 topic` /
`ros2 node` / `ros2 bag` views of a running graph (EdgePilot's or any ROS 2 system's on the same domain) and a
Foxglove bridge, over DDS with no ROS 2 install.

Output follows the ros2 CLI (so habits and scripts carry over); `--json` gives machine-readable output instead.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from typing import Any

import yaml

from . import msgs as _msgs
from .graph import Endpoint, GraphError, RosGraph, guid_hex

__all__ = ['add_parser', 'rate_stats', 'format_echo']


def _graph(args: argparse.Namespace) -> RosGraph:
    return RosGraph(args.domain)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument('--domain', type=int, default=None, help='DDS domain (default: $ROS_DOMAIN_ID or 0)')
    p.add_argument('--spin-time', type=float, default=1.0,
                   help='seconds to wait for discovery before answering (default 1.0)')


def _topic_name(name: str) -> str:
    return '/' + name.strip().lstrip('/')


# ----------------------------------------------------------------------------------------------------------------
# topic list / info / type
# ----------------------------------------------------------------------------------------------------------------


def _cmd_topic_list(args: argparse.Namespace) -> int:
    with _graph(args) as g:
        g.wait(args.spin_time)
        topics = g.topics()
        eps = g.endpoints()
    if args.json:
        out = {t: {'types': ty, 'publishers': sum(e.kind == 'publisher' and e.topic == t for e in eps),
                   'subscriptions': sum(e.kind == 'subscription' and e.topic == t for e in eps)}
               for t, ty in topics.items()}
        print(json.dumps(out))
        return 0
    if args.count_topics:
        print(len(topics))
        return 0
    for t, types in topics.items():
        print(f'{t} [{", ".join(types)}]' if args.show_types else t)
    return 0


def _endpoint_lines(ep: Endpoint) -> list[str]:
    node = ep.node or '_NODE_NAME_UNKNOWN_'
    ns, _, name = node.rpartition('/')
    return [f'Node name: {name}', f'Node namespace: {ns or "/"}', f'Topic type: {ep.type}',
            f'Topic type hash: {ep.type_hash or "INVALID"}',
            f'Endpoint type: {ep.kind.upper()}', f'GID: {guid_hex(ep.guid)}', 'QoS profile:',
            f'  Reliability: {"RELIABLE" if ep.reliable else "BEST_EFFORT"}',
            f'  History (Depth): {"KEEP_ALL" if ep.depth == 0 else f"KEEP_LAST ({ep.depth})"}',
            f'  Durability: {"TRANSIENT_LOCAL" if ep.transient_local else "VOLATILE"}', '']


def _topic_endpoints(g: RosGraph, topic: str, spin_time: float) -> list[Endpoint]:
    g.wait(spin_time, lambda: any(e.topic == topic for e in g.endpoints()))
    eps = [e for e in g.endpoints() if e.topic == topic]
    if not eps:
        raise GraphError(f'unknown topic {topic} on domain {g.domain_id} (no publisher or subscription seen in '
                         f'{spin_time:g} s)')
    return eps


def _cmd_topic_info(args: argparse.Namespace) -> int:
    topic = _topic_name(args.name)
    with _graph(args) as g:
        eps = _topic_endpoints(g, topic, args.spin_time)
    pubs = [e for e in eps if e.kind == 'publisher']
    subs = [e for e in eps if e.kind == 'subscription']
    types = sorted({e.type for e in eps})
    if args.json:
        print(json.dumps({'topic': topic, 'types': types, 'publishers': [_ep_json(e) for e in pubs],
                          'subscriptions': [_ep_json(e) for e in subs]}))
        return 0
    print(f'Type: {", ".join(types)}\n')
    print(f'Publisher count: {len(pubs)}\n')
    if args.verbose:
        for e in pubs:
            print('\n'.join(_endpoint_lines(e)))
    print(f'Subscription count: {len(subs)}')
    if args.verbose:
        print()
        for e in subs:
            print('\n'.join(_endpoint_lines(e)))
    return 0


def _ep_json(e: Endpoint) -> dict:
    return {'node': e.node, 'type': e.type, 'type_hash': e.type_hash, 'gid': guid_hex(e.guid), 'reliable': e.reliable,
            'transient_local': e.transient_local, 'depth': e.depth}


def _cmd_topic_type(args: argparse.Namespace) -> int:
    topic = _topic_name(args.name)
    with _graph(args) as g:
        eps = _topic_endpoints(g, topic, args.spin_time)
    for t in sorted({e.type for e in eps}):
        print(t)
    return 0


# ----------------------------------------------------------------------------------------------------------------
# echo / hz
# ----------------------------------------------------------------------------------------------------------------


def format_echo(msg: _msgs.Message, truncate: int | None) -> str:
    """A message as `ros2 topic echo` prints it: YAML, then a '---' line."""
    text = yaml.safe_dump(_msgs.message_to_dict(msg, truncate), sort_keys=False, default_flow_style=False,
                          allow_unicode=True, width=120)
    return text + '---'


def _open_reader(g: RosGraph, args: argparse.Namespace):
    topic = _topic_name(args.name)
    typename = _msgs.normalize_type_name(args.type) if args.type else g.topic_type(topic, args.spin_time + 1.0)
    if args.type:  # publishers may appear later; still adapt the QoS to those already seen
        g.wait(args.spin_time, lambda: any(e.topic == topic and e.kind == 'publisher' for e in g.endpoints()))
    return topic, typename, g.subscribe_raw(topic, typename)


def _samples(reader, deadline: float | None):
    """Raw CDR payloads as they arrive, until the deadline (None: forever)."""
    from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
    from cyclonedds.util import duration

    ws = WaitSet(reader.get_participant())
    ws.attach(ReadCondition(reader, SampleState.NotRead | ViewState.Any | InstanceState.Any))
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        ws.wait(duration(seconds=min(0.2, left) if left is not None else 0.2))
        for s in reader.take(N=256):
            data = getattr(s, 'data', None)
            if data is not None:
                yield data


def _cmd_topic_echo(args: argparse.Namespace) -> int:
    limit = 1 if args.once else args.count
    truncate = None if args.full else args.truncate_length
    deadline = time.monotonic() + args.timeout if args.timeout else None
    with _graph(args) as g:
        topic, typename, reader = _open_reader(g, args)
        n = 0
        for data in _samples(reader, deadline):
            try:
                msg = _msgs.deserialize(data, typename)
            except _msgs.MessageError as exc:
                print(f'{topic}: skipped a sample that does not decode as {typename}: {exc}', file=sys.stderr)
                continue
            if args.json:
                print(json.dumps(_msgs.message_to_dict(msg, truncate)), flush=True)
            else:
                print(format_echo(msg, truncate), flush=True)
            n += 1
            if limit and n >= limit:
                break
    if limit and n < limit:
        print(f'{topic}: {n} of {limit} message(s) within {args.timeout:g} s', file=sys.stderr)
        return 1
    return 0


def rate_stats(stamps: list[float]) -> dict:
    """`ros2 topic hz` figures from arrival times (s): average rate (Hz), min/max/std dev of the gaps, window."""
    if len(stamps) < 2:
        return {'rate_hz': 0.0, 'min_s': None, 'max_s': None, 'std_s': None, 'window': len(stamps)}
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    mean = sum(gaps) / len(gaps)
    std = math.sqrt(sum((x - mean) ** 2 for x in gaps) / len(gaps))
    return {'rate_hz': 1.0 / mean if mean > 0 else math.inf, 'min_s': min(gaps), 'max_s': max(gaps), 'std_s': std,
            'window': len(stamps)}


def _cmd_topic_hz(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.duration if args.duration else None
    stamps: list[float] = []
    total = 0
    with _graph(args) as g:
        topic, _typename, reader = _open_reader(g, args)
        next_print = time.monotonic() + 1.0
        try:
            for _data in _samples(reader, deadline):
                stamps.append(time.monotonic())
                total += 1
                del stamps[:-args.window]
                if not args.json and time.monotonic() >= next_print:
                    next_print += 1.0
                    _print_rate(rate_stats(stamps))
        except KeyboardInterrupt:
            pass
    st = rate_stats(stamps)
    st.update(topic=topic, messages=total)
    if args.json:
        print(json.dumps(st))
    elif total < 2:
        print(f'{topic}: {total} message(s) received, no rate', file=sys.stderr)
    else:
        _print_rate(st)
    return 0 if total >= 2 else 1


def _print_rate(st: dict) -> None:
    if st['window'] < 2:
        return
    print(f'average rate: {st["rate_hz"]:.3f}\n\tmin: {st["min_s"]:.3f}s max: {st["max_s"]:.3f}s '
          f'std dev: {st["std_s"]:.5f}s window: {st["window"]}', flush=True)


# ----------------------------------------------------------------------------------------------------------------
# node list / info
# ----------------------------------------------------------------------------------------------------------------


def _cmd_node_list(args: argparse.Namespace) -> int:
    with _graph(args) as g:
        g.wait(args.spin_time)
        names = g.nodes()
    if args.json:
        print(json.dumps(names))
    elif args.count_nodes:
        print(len(names))
    else:
        for n in names:
            print(n)
    return 0


def _cmd_node_info(args: argparse.Namespace) -> int:
    name = '/' + args.name.strip().lstrip('/')
    with _graph(args) as g:
        g.wait(args.spin_time, lambda: name in g.nodes())
        if name not in g.nodes():
            known = ', '.join(g.nodes()) or 'none'
            raise GraphError(f'unknown node {name} on domain {g.domain_id} (nodes seen: {known})')
        eps = [e for e in g.endpoints() if e.node == name]
    groups = {'Subscribers': [e for e in eps if e.kind == 'subscription' and ' (' not in e.topic],
              'Publishers': [e for e in eps if e.kind == 'publisher' and ' (' not in e.topic]}
    if args.json:
        print(json.dumps({'node': name, **{k: {e.topic: e.type for e in v} for k, v in groups.items()}}))
        return 0
    print(name)
    for title, items in groups.items():
        print(f'  {title}:')
        for e in sorted(items, key=lambda e: e.topic):
            print(f'    {e.topic}: {e.type}')
    return 0


# ----------------------------------------------------------------------------------------------------------------
# argparse
# ----------------------------------------------------------------------------------------------------------------


# ----------------------------------------------------------------------------------------------------------------
# bag record / info
# ----------------------------------------------------------------------------------------------------------------


def _patterns(args: argparse.Namespace) -> list[str] | None:
    """The TOPICS arguments as regular expressions (exact names unless -e), None for all topics."""
    if not args.topics:
        return None
    return list(args.topics) if args.regex else ['^' + re.escape(_topic_name(t)) + '$' for t in args.topics]


def _cmd_bag_record(args: argparse.Namespace) -> int:
    import signal

    from .bag import Recorder

    out = args.output or time.strftime('rosbag2_%Y_%m_%d-%H_%M_%S')
    rec = Recorder(out, topics=_patterns(args), exclude=args.exclude, can_bus=args.can_bus, domain_id=args.domain,
                   compress=not args.no_compress)
    signal.signal(signal.SIGTERM, lambda *_: rec.stop())
    print(f'recording to {out} (Ctrl-C stops)', file=sys.stderr, flush=True)
    try:
        rec.run(args.duration)
    except KeyboardInterrupt:
        pass
    counts = rec.close()
    for err in rec.errors:
        print(f'warning: {err}', file=sys.stderr)
    if args.json:
        print(json.dumps({'bag': str(out), 'messages': counts, 'errors': rec.errors}))
    else:
        print(f'{out}: {sum(counts.values())} messages on {len(counts)} topics')
    return 0


def _cmd_bag_info(args: argparse.Namespace) -> int:
    from .bag import bag_info, format_info

    info = bag_info(args.bag)
    print(json.dumps(info) if args.json else format_info(info))
    return 0


def _cmd_bag_replay(args: argparse.Namespace) -> int:
    from .replay import replay

    params = {}
    for item in args.param:
        key, sep, value = item.partition(':=')
        if not sep:
            raise ValueError(f'-p {item!r}: expected NAME:=VALUE')
        params[key] = value
    report = replay(args.bag, args.node, params, tolerance=args.tolerance, remaps=tuple(args.remap) or None)
    print(report.format())
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0 if report.ok else 1


def _cmd_viz(args: argparse.Namespace) -> int:
    import signal

    from .viz import FoxgloveBridge

    bridge = FoxgloveBridge(args.host, args.port, topics=_patterns(args), exclude=args.exclude,
                            domain_id=args.domain)
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop())
    print(f'Foxglove WebSocket server on {bridge.url}: in Foxglove, Open connection -> Foxglove WebSocket -> '
          f'{bridge.url} (Ctrl-C stops)', flush=True)
    try:
        bridge.run(args.duration)
    except KeyboardInterrupt:
        pass
    bridge.close()
    for err in bridge.tap.errors:
        print(f'warning: {err}', file=sys.stderr)
    print(json.dumps({'url': bridge.url, 'messages': bridge.counts}) if args.json else
          f'bridged {sum(bridge.counts.values())} messages on {len(bridge.counts)} topics')
    return 0


# ----------------------------------------------------------------------------------------------------------------
# service list / call, param list / get / set
# ----------------------------------------------------------------------------------------------------------------


class _Caller:
    """A hidden node (`_edgepilot_cli_<pid>`, no parameter services) that calls services on the domain."""

    def __init__(self, domain: int | None) -> None:
        import os

        from . import Context, Node
        from .dds import DdsBackend, SingleThreadedExecutor
        self.context = Context(DdsBackend(domain))
        self.node = Node(f'_edgepilot_cli_{os.getpid()}', context=self.context, start_parameter_services=False)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def call(self, name: str, srv_type: str, request: Any, timeout_s: float) -> Any:
        cli = self.node.create_client(srv_type, name)
        if not cli.wait_for_service(timeout_s):
            raise GraphError(f'service {name} ({srv_type}) is not available on domain '
                             f'{self.context.backend.domain_id} (waited {timeout_s:g} s)')
        future = cli.call_async(request if request is not None else cli.srv_type.Request())
        if not self.executor.spin_until(future.done, timeout_s):
            raise GraphError(f'service {name}: no reply within {timeout_s:g} s')
        return future.result()

    def close(self) -> None:
        self.context.shutdown()


def _cmd_service_list(args: argparse.Namespace) -> int:
    with _graph(args) as g:
        g.wait(args.spin_time)
        services = g.services()
    if args.json:
        print(json.dumps(services))
        return 0
    for name, types in services.items():
        print(f'{name} [{", ".join(types)}]' if args.show_types else name)
    return 0


def _cmd_service_call(args: argparse.Namespace) -> int:
    srv = _msgs.get_service(args.type)
    request = srv.Request()
    if args.values:
        _msgs.fill_message(request, yaml.safe_load(args.values) or {})
    caller = _Caller(args.domain)
    try:
        response = caller.call(_topic_name(args.name), srv.__srvtype__, request, args.timeout)
    finally:
        caller.close()
    print(json.dumps(_msgs.message_to_dict(response)) if args.json else format_echo(response, None))
    return 0


def _node_name(name: str) -> str:
    return '/' + name.strip().lstrip('/')


def _cmd_param(args: argparse.Namespace) -> int:
    from .params import Parameter, parse_param_value
    from .services import parameter_value_msg, value_from_msg

    node = _node_name(args.node)
    caller = _Caller(args.domain)
    try:
        if args.param_command == 'list':
            r = caller.call(node + '/list_parameters', 'rcl_interfaces/srv/ListParameters', None, args.timeout)
            names = list(r.result.names)
            print(json.dumps(names) if args.json else '\n'.join(f'  {n}' for n in names))
            return 0
        if args.param_command == 'get':
            G = _msgs.get_service('rcl_interfaces/srv/GetParameters')
            r = caller.call(node + '/get_parameters', G.__srvtype__, G.Request(names=[args.name]), args.timeout)
            if not r.values or int(r.values[0].type) == 0:
                print(f'Parameter not set: {args.name} is not declared on {node}', file=sys.stderr)
                return 1
            value = value_from_msg(r.values[0])
            kind = Parameter.Type(int(r.values[0].type)).name.replace('_', ' ').title()
            print(json.dumps({'name': args.name, 'value': value}) if args.json else f'{kind} value is: {value}')
            return 0
        S = _msgs.get_service('rcl_interfaces/srv/SetParameters')
        param = _msgs.get_message('rcl_interfaces/msg/Parameter')(
            name=args.name, value=parameter_value_msg(Parameter(args.name, value=parse_param_value(args.value))))
        r = caller.call(node + '/set_parameters', S.__srvtype__, S.Request(parameters=[param]), args.timeout)
        result = r.results[0]
        if args.json:
            print(json.dumps({'name': args.name, 'successful': bool(result.successful), 'reason': result.reason}))
        else:
            print('Set parameter successful' if result.successful else f'Setting parameter failed: {result.reason}')
        return 0 if result.successful else 1
    finally:
        caller.close()


def add_parser(sub) -> None:
    """Register the `topic` and `node` commands on the top-level subparsers."""
    p_topic = sub.add_parser('topic', help='list, inspect, echo and time ROS 2 topics (as `ros2 topic`)',
                             description='ROS 2 topics on the DDS domain: EdgePilot nodes and any ROS 2 system.')
    tsub = p_topic.add_subparsers(dest='topic_command', metavar='ACTION')
    tsub.required = True

    p = tsub.add_parser('list', help='topic names (and types)')
    _common(p)
    p.add_argument('-t', '--show-types', action='store_true', help='print each topic\'s type')
    p.add_argument('-c', '--count-topics', action='store_true', help='print only the number of topics')
    p.add_argument('--json', action='store_true', help='one JSON object: topic -> types, publisher/subscription counts')
    p.set_defaults(func=_cmd_topic_list)

    p = tsub.add_parser('info', help='type, publishers and subscriptions of a topic')
    _common(p)
    p.add_argument('name')
    p.add_argument('-v', '--verbose', action='store_true', help='each endpoint: node, GID, QoS')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_topic_info)

    p = tsub.add_parser('type', help='the type of a topic')
    _common(p)
    p.add_argument('name')
    p.set_defaults(func=_cmd_topic_type)

    p = tsub.add_parser('echo', help='print the messages of a topic, decoded with the .msg definitions')
    _common(p)
    p.add_argument('name')
    p.add_argument('type', nargs='?', default=None, help='message type (default: from the publishers)')
    p.add_argument('--once', action='store_true', help='print one message and exit')
    p.add_argument('-n', '--count', type=int, default=0, help='exit after this many messages')
    p.add_argument('--timeout', type=float, default=None, help='give up after this many seconds')
    p.add_argument('--truncate-length', type=int, default=128, help='cut longer arrays and strings (default 128)')
    p.add_argument('--full', action='store_true', help='print arrays and strings whole')
    p.add_argument('--json', action='store_true', help='one JSON object per message, one per line')
    p.set_defaults(func=_cmd_topic_echo)

    p = tsub.add_parser('hz', help='publishing rate of a topic')
    _common(p)
    p.add_argument('name')
    p.add_argument('type', nargs='?', default=None, help='message type (default: from the publishers)')
    p.add_argument('-w', '--window', type=int, default=10000, help='arrivals the statistics cover (default 10000)')
    p.add_argument('--duration', type=float, default=None, help='measure this many seconds, then exit')
    p.add_argument('--json', action='store_true', help='print only the final statistics as one JSON object')
    p.set_defaults(func=_cmd_topic_hz)

    p_node = sub.add_parser('node', help='list and inspect ROS 2 nodes (as `ros2 node`)',
                            description='Nodes announced on ros_discovery_info by EdgePilot or any ROS 2 system.')
    nsub = p_node.add_subparsers(dest='node_command', metavar='ACTION')
    nsub.required = True
    p = nsub.add_parser('list', help='fully qualified node names')
    _common(p)
    p.add_argument('-c', '--count-nodes', action='store_true', help='print only the number of nodes')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_node_list)
    p = nsub.add_parser('info', help='a node\'s publishers and subscribers')
    _common(p)
    p.add_argument('name')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_node_info)

    p_srv = sub.add_parser('service', help='list and call ROS 2 services (as `ros2 service`)',
                           description='Services on the DDS domain (rq/<name>Request, rr/<name>Reply), ours or any '
                                       'ROS 2 system\'s.')
    ssub = p_srv.add_subparsers(dest='service_command', metavar='ACTION')
    ssub.required = True
    p = ssub.add_parser('list', help='service names (and types)')
    _common(p)
    p.add_argument('-t', '--show-types', action='store_true')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_service_list)
    p = ssub.add_parser('call', help='call a service and print the response')
    p.add_argument('name')
    p.add_argument('type', help='service type, e.g. std_srvs/srv/Trigger')
    p.add_argument('values', nargs='?', default=None, help='request fields as YAML, e.g. "{data: true}"')
    p.add_argument('--timeout', type=float, default=5.0, help='seconds to wait for the server and the reply (5)')
    p.add_argument('--domain', type=int, default=None)
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_service_call)

    p_param = sub.add_parser('param', help='list, get and set node parameters (as `ros2 param`)',
                             description='Through the parameter services every node offers (ours and ROS 2\'s).')
    psub = p_param.add_subparsers(dest='param_command', metavar='ACTION')
    psub.required = True
    for action, extra in (('list', ()), ('get', ('name',)), ('set', ('name', 'value'))):
        p = psub.add_parser(action, help={'list': 'parameter names of a node', 'get': 'a parameter\'s value',
                                          'set': 'set a parameter (value parsed as YAML, as ros2 param set)'}[action])
        p.add_argument('node')
        for a in extra:
            p.add_argument(a)
        p.add_argument('--timeout', type=float, default=5.0, help='seconds to wait for the node (5)')
        p.add_argument('--domain', type=int, default=None)
        p.add_argument('--json', action='store_true')
        p.set_defaults(func=_cmd_param)

    p_bag = sub.add_parser('bag', help='record and inspect rosbag2 bags (MCAP, zstd) (as `ros2 bag`)',
                           description='rosbag2 bags in MCAP with zstd chunks: what ros2 bag (Iron and later) and '
                                       'Foxglove open.')
    bsub = p_bag.add_subparsers(dest='bag_command', metavar='ACTION')
    bsub.required = True
    p = bsub.add_parser('record', help='record topics (all by default) and the CAN bus into a bag')
    p.add_argument('topics', nargs='*', help='topic names to record (default: every topic, as -a)')
    p.add_argument('-o', '--output', default=None, help='bag directory (default rosbag2_<date>-<time>)')
    p.add_argument('-e', '--regex', action='store_true', help='TOPICS are regular expressions')
    p.add_argument('-x', '--exclude', default=None, help='do not record topics matching this regular expression')
    p.add_argument('--can-bus', default=None, metavar='SPEC',
                   help='also record this CAN bus (e.g. socketcan:can0, udp_multicast:default) on /from_can_bus')
    p.add_argument('--duration', type=float, default=None, help='stop after this many seconds')
    p.add_argument('--domain', type=int, default=None, help='DDS domain (default: $ROS_DOMAIN_ID or 0)')
    p.add_argument('--no-compress', action='store_true', help='uncompressed MCAP chunks')
    p.add_argument('--json', action='store_true', help='print the counts as one JSON object when done')
    p.set_defaults(func=_cmd_bag_record)
    p = bsub.add_parser('info', help='summary of a bag: duration, messages, topics, types, QoS')
    p.add_argument('bag', help='bag directory')
    p.add_argument('--json', action='store_true')
    p.set_defaults(func=_cmd_bag_info)
    p = bsub.add_parser('replay', help='re-run a node on a bag\'s recorded inputs and diff its outputs (process '
                                       'replay)')
    p.add_argument('bag', help='bag directory')
    p.add_argument('--node', required=True, help='node to re-run: perception, adas or safety')
    p.add_argument('-p', '--param', action='append', default=[], metavar='NAME:=VALUE',
                   help='override a node parameter (e.g. model_path:=my.onnx); repeatable')
    p.add_argument('-r', '--remap', action='append', default=[], metavar='FROM:=TO',
                   help='rename a topic of the node (default for adas on a simulation bag: the sim stack\'s)')
    p.add_argument('--tolerance', type=float, default=1e-3, help='allowed |difference| of float fields (1e-3)')
    p.add_argument('--json', action='store_true', help='also print the report as one JSON object (last line)')
    p.set_defaults(func=_cmd_bag_replay)

    p = sub.add_parser('viz', help='live visualization: a Foxglove WebSocket server bridging the running graph',
                       description='Bridge every topic (CDR with its ros2msg schema) to Foxglove over WebSocket; '
                                   'object lists also go out as visualization_msgs/MarkerArray on <topic>/markers.')
    p.add_argument('topics', nargs='*', help='topics to bridge (default: all)')
    p.add_argument('-e', '--regex', action='store_true', help='TOPICS are regular expressions')
    p.add_argument('-x', '--exclude', default=None, help='leave out topics matching this regular expression')
    p.add_argument('--host', default='127.0.0.1', help='address to listen on (default 127.0.0.1; 0.0.0.0: all)')
    p.add_argument('--port', type=int, default=8765, help='WebSocket port (default 8765, Foxglove\'s default)')
    p.add_argument('--duration', type=float, default=None, help='stop after this many seconds')
    p.add_argument('--domain', type=int, default=None, help='DDS domain (default: $ROS_DOMAIN_ID or 0)')
    p.add_argument('--json', action='store_true', help='print the bridged counts as one JSON object when done')
    p.set_defaults(func=_cmd_viz)
