"""ROS 2 services over DDS as rmw_cyclonedds does them, and the parameter services every node offers.

Wire: service `/a/b` of type `pkg/srv/X` is a request topic `rq/a/bRequest` (type `pkg::srv::dds_::X_Request_`)
and a reply topic `rr/a/bReply` (`pkg::srv::dds_::X_Response_`). Each payload is the message's XCDR1 prefixed by
`{uint64 guid; int64 seq}`: the client's identity and its request number, which the server copies into the reply
so the client can pair them (the body keeps its own alignment: the prefix is 16 bytes). Cyclone checks payloads
against the type, so the DDS types carry the two header fields ahead of the message's.

Parameter services (`~/get_parameters`, `set_parameters`, `set_parameters_atomically`, `list_parameters`,
`describe_parameters`, `get_parameter_types`) make `ros2 param` and `edgepilot param` work against our nodes.
"""

from __future__ import annotations

import struct
import threading
from typing import Any, Callable

from . import msgs as _msgs

__all__ = ['wrap', 'unwrap', 'service_wire_types', 'request_topic', 'reply_topic', 'Future',
           'ParameterServices', 'parameter_value_msg', 'value_from_msg', 'PARAMETER_SERVICES']

_HEADER = struct.Struct('<Qq')
_CDR_LE = b'\x00\x01\x00\x00'


def wrap(guid: int, seq: int, cdr: bytes) -> bytes:
    """Request/reply payload: the message's CDR (with encapsulation header) behind {guid, seq}."""
    if cdr[:2] != b'\x00\x01':
        raise _msgs.MessageError(f'service payload must be XCDR1 little-endian, got {bytes(cdr[:4]).hex()}')
    return _CDR_LE + _HEADER.pack(guid, seq) + bytes(cdr[4:])


def unwrap(data: bytes) -> tuple[int, int, bytes]:
    """(guid, seq, message CDR with encapsulation header) of a request/reply payload."""
    if len(data) < 20 or data[:2] != b'\x00\x01':
        raise _msgs.MessageError(f'not a service payload ({len(data)} bytes, header {bytes(data[:4]).hex()})')
    guid, seq = _HEADER.unpack_from(data, 4)
    return guid, seq, _CDR_LE + bytes(data[20:])


def request_topic(service: str) -> str:
    return 'rq' + service + 'Request'


def reply_topic(service: str) -> str:
    return 'rr' + service + 'Reply'


_wire: dict[str, type] = {}
_wire_lock = threading.Lock()


def service_wire_types(srv_type: str) -> tuple[type, type]:
    """(request, reply) IdlStructs: DDS names `pkg::srv::dds_::X_Request_` / `X_Response_`, header + fields."""
    from cyclonedds.idl import make_idl_struct
    from cyclonedds.idl import types as T

    from .dds import _WireMixin, _fields

    out = []
    with _wire_lock:
        for suffix in ('_Request', '_Response'):
            name = srv_type + suffix
            cls = _wire.get(name)
            if cls is None:
                fields = {'client_guid_': T.uint64, 'sequence_number_': T.int64, **_fields(name)}
                cls = make_idl_struct(name.split('/')[-1] + '_', _msgs.dds_type_name(name), fields)
                for attr in ('serialize', 'deserialize', 'deserialize_key', 'wrap'):
                    setattr(cls, attr, _WireMixin.__dict__[attr])
                _wire[name] = cls
            out.append(cls)
    return out[0], out[1]


class Future:
    """The result of an asynchronous service call (rclpy.task.Future's common subset)."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[['Future'], None]] = []

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> Any:
        if self._exception is not None:
            raise self._exception
        return self._result

    def exception(self) -> BaseException | None:
        return self._exception

    def set_result(self, value: Any) -> None:
        self._result = value
        self._finish()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        self._finish()

    def add_done_callback(self, fn: Callable[['Future'], None]) -> None:
        if self.done():
            fn(self)
        else:
            self._callbacks.append(fn)

    def _finish(self) -> None:
        self._done.set()
        for fn in self._callbacks:
            fn(self)


# ----------------------------------------------------------------------------------------------------------------
# Parameter services
# ----------------------------------------------------------------------------------------------------------------

PARAMETER_SERVICES = {
    'get_parameters': 'rcl_interfaces/srv/GetParameters',
    'set_parameters': 'rcl_interfaces/srv/SetParameters',
    'set_parameters_atomically': 'rcl_interfaces/srv/SetParametersAtomically',
    'list_parameters': 'rcl_interfaces/srv/ListParameters',
    'describe_parameters': 'rcl_interfaces/srv/DescribeParameters',
    'get_parameter_types': 'rcl_interfaces/srv/GetParameterTypes',
}
_VALUE_FIELD = {1: 'bool_value', 2: 'integer_value', 3: 'double_value', 4: 'string_value', 5: 'byte_array_value',
                6: 'bool_array_value', 7: 'integer_array_value', 8: 'double_array_value', 9: 'string_array_value'}


def parameter_value_msg(param: Any) -> Any:
    """rcl_interfaces/ParameterValue of an edgepilot.ros Parameter."""
    msg = _msgs.get_message('rcl_interfaces/msg/ParameterValue')(type=int(param.type_))
    field = _VALUE_FIELD.get(int(param.type_))
    if field is not None and param.value is not None:
        value = param.value
        setattr(msg, field, list(value) if isinstance(value, (list, tuple, bytes, bytearray)) else value)
    return msg


def value_from_msg(msg: Any) -> Any:
    """The Python value a ParameterValue carries (None when NOT_SET)."""
    field = _VALUE_FIELD.get(int(msg.type))
    if field is None:
        return None
    value = getattr(msg, field)
    if hasattr(value, 'tolist'):
        value = value.tolist()
    if int(msg.type) == 5:
        return bytes(value)
    if int(msg.type) == 6:
        return [bool(v) for v in value]
    return value


class ParameterServices:
    """The six parameter services of a node, answered from its declared parameters."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.services = [node.create_service(_msgs.get_service(t), '~/' + name, getattr(self, '_' + name))
                         for name, t in PARAMETER_SERVICES.items()]

    def _get_parameters(self, req: Any, resp: Any) -> Any:
        for name in req.names:
            if self.node.has_parameter(name):
                resp.values.append(parameter_value_msg(self.node.get_parameter(name)))
            else:
                resp.values.append(_msgs.get_message('rcl_interfaces/msg/ParameterValue')())
        return resp

    def _params_of(self, req: Any) -> list[Any]:
        from .params import Parameter
        return [Parameter(p.name, Parameter.Type(int(p.value.type)), value_from_msg(p.value))
                for p in req.parameters]

    def _result_msg(self, result: Any) -> Any:
        return _msgs.get_message('rcl_interfaces/msg/SetParametersResult')(successful=bool(result.successful),
                                                                          reason=str(result.reason))

    def _set_parameters(self, req: Any, resp: Any) -> Any:
        resp.results = [self._result_msg(r) for r in self.node.set_parameters(self._params_of(req))]
        return resp

    def _set_parameters_atomically(self, req: Any, resp: Any) -> Any:
        resp.result = self._result_msg(self.node.set_parameters_atomically(self._params_of(req)))
        return resp

    def _list_parameters(self, req: Any, resp: Any) -> Any:
        names = sorted(self.node._parameters)
        prefixes = list(req.prefixes)
        depth = int(req.depth)
        out, found_prefixes = [], set()
        for name in names:
            if prefixes and not any(name == p or name.startswith(p + '.') for p in prefixes):
                continue
            rel = name
            for p in prefixes:
                if name.startswith(p + '.'):
                    rel = name[len(p) + 1:]
            if depth and rel.count('.') >= depth:
                continue
            out.append(name)
            if '.' in name:
                found_prefixes.add(name.rsplit('.', 1)[0])
        resp.result.names = out
        resp.result.prefixes = sorted(found_prefixes)
        return resp

    def _describe_parameters(self, req: Any, resp: Any) -> Any:
        Descriptor = _msgs.get_message('rcl_interfaces/msg/ParameterDescriptor')
        for name in req.names:
            if self.node.has_parameter(name):
                p = self.node.get_parameter(name)
                resp.descriptors.append(Descriptor(name=name, type=int(p.type_)))
            else:
                resp.descriptors.append(Descriptor(name=name))
        return resp

    def _get_parameter_types(self, req: Any, resp: Any) -> Any:
        resp.types = [int(self.node.get_parameter(n).type_) if self.node.has_parameter(n) else 0 for n in req.names]
        return resp
