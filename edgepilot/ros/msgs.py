"""ROS 2 message classes and a fast XCDR1 codec, generated from `.msg` definitions.

One source of truth: the standard types come from rosbags' ROS 2 Humble typestore, our own packages
from every ``ros_ws/src/*/msg/*.msg`` (plus directories in ``EDGEPILOT_MSG_PATH``). From those field
definitions we generate, lazily and once per type:

* a plain Python class (``__slots__``, keyword constructor with ROS defaults, constants as class
  attributes) -- default-constructible like rclpy's message classes;
* a serializer/deserializer pair (generated Python source using precompiled ``struct`` formats for runs
  of primitive fields, numpy for primitive arrays) producing XCDR1 little-endian bytes with the 4-byte
  encapsulation header, byte-identical to ``rosbags`` ``Typestore.serialize_cdr``.

Data representation (consistent everywhere):

* every primitive array / sequence (including ``uint8[]``, e.g. ``Image.data``) is a 1-D ``numpy.ndarray``
  of the matching dtype; on serialization lists, ``bytes``, ``bytearray`` and ``memoryview`` are accepted too;
* fixed arrays (``float64[9]``) default to zeros of that length; sequences default to empty arrays;
* ``string`` is ``str``, ``string[]`` a ``list[str]``; message arrays are ``list`` of message objects;
* ``byte`` and ``char`` are ``int`` (0..255).

Default values written in ``.msg`` files (``int32 x 5``) are not supported (rosbags drops them).
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import Nodetype

__all__ = [
    'MessageError',
    'Message',
    'get_message',
    'get_typestore_with_ours',
    'serialize',
    'deserialize',
    'message_to_dict',
    'fill_message',
    'get_service',
    'ServiceType',
    'normalize_type_name',
    'message_type_name',
    'dds_type_name',
    'to_rosbags',
    'from_rosbags',
    'list_types',
    'field_definitions',
    'message_definition',
]

CDR_LE_HEADER = b'\x00\x01\x00\x00'
_REPO_SRC = Path(__file__).resolve().parents[2] / 'ros_ws' / 'src'


class MessageError(ValueError):
    """Raised for unknown message types and for values that cannot be serialized."""


# ----------------------------------------------------------------------------------------------------------------
# Typestore: rosbags Humble + our .msg files
# ----------------------------------------------------------------------------------------------------------------

_lock = threading.RLock()
_typestore = None


def _msg_dirs(kind: str = 'msg') -> list[Path]:
    """Package ``msg`` (or ``srv``) directories: ros_ws/src/*/msg and ros_ws/vendor/*/msg (third-party definitions
    we need, such as can_msgs, kept out of the colcon workspace) plus EDGEPILOT_MSG_PATH (os.pathsep list of src
    dirs)."""
    roots = [_REPO_SRC, _REPO_SRC.parent / 'vendor']
    extra = os.environ.get('EDGEPILOT_MSG_PATH', '')
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    dirs = []
    for root in roots:
        if root.is_dir():
            dirs += sorted(d for d in root.glob(f'*/{kind}') if d.is_dir())
    return dirs


def _srv_parts(text: str, path: Path) -> tuple[str, str]:
    """(request, response) definitions of a .srv file; an empty part gets ROS IDL's placeholder member."""
    lines = text.splitlines()
    seps = [i for i, line in enumerate(lines) if line.strip() == '---']
    if len(seps) != 1:
        raise MessageError(f'{path}: a .srv file needs exactly one "---" line between request and response')
    parts = ['\n'.join(lines[:seps[0]]), '\n'.join(lines[seps[0] + 1:])]
    empty = [not any(ln.split('#')[0].strip() for ln in part.splitlines()) for part in parts]
    return tuple('uint8 structure_needs_at_least_one_member\n' + p if e else p for p, e in zip(parts, empty))


def get_typestore_with_ours():
    """The rosbags typestore (ROS 2 Humble) with every message of our own packages registered."""
    global _typestore
    with _lock:
        if _typestore is None:
            store = get_typestore(Stores.ROS2_HUMBLE)
            types: dict = {}
            for msg_dir in _msg_dirs():
                pkg = msg_dir.parent.name
                for path in sorted(msg_dir.glob('*.msg')):
                    try:
                        types.update(get_types_from_msg(path.read_text(), f'{pkg}/msg/{path.stem}'))
                    except Exception as exc:  # rosbags raises its own parse errors
                        raise MessageError(f'cannot parse {path}: {exc}') from exc
            for srv_dir in _msg_dirs('srv'):
                pkg = srv_dir.parent.name
                for path in sorted(srv_dir.glob('*.srv')):
                    for part, suffix in zip(_srv_parts(path.read_text(), path), ('_Request', '_Response')):
                        try:   # rosbags would file 'pkg/srv/X' under 'pkg/srv/msg/X': parse, then name it
                            parsed = get_types_from_msg(part, f'{pkg}/msg/{path.stem}{suffix}')
                            types[f'{pkg}/srv/{path.stem}{suffix}'] = parsed[f'{pkg}/msg/{path.stem}{suffix}']
                        except Exception as exc:
                            raise MessageError(f'cannot parse {path} ({suffix[1:].lower()}): {exc}') from exc
            store.register(types)
            _typestore = store
        return _typestore


def normalize_type_name(name: str | type) -> str:
    """'sensor_msgs/Image', 'sensor_msgs.msg.Image' or a class -> 'sensor_msgs/msg/Image'."""
    if isinstance(name, type):
        return message_type_name(name)
    parts = name.replace('::', '/').replace('.', '/').strip('/').split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or not all(parts):
        raise MessageError(f"invalid message type name {name!r}; expected 'pkg/msg/Type' or 'pkg/Type'")
    return '/'.join(parts)


def message_type_name(cls: type) -> str:
    """The 'pkg/msg/Type' name of a message class (ours or rosbags')."""
    try:
        return cls.__msgtype__
    except AttributeError:
        raise MessageError(f'{cls!r} is not a message class') from None


def dds_type_name(name: str | type) -> str:
    """ROS 2 DDS type name: 'std_msgs/msg/String' -> 'std_msgs::msg::dds_::String_'."""
    pkg, kind, typ = normalize_type_name(name).split('/')
    return f'{pkg}::{kind}::dds_::{typ}_'


def field_definitions(name: str | type) -> tuple[list, list]:
    """(constants, fields) in rosbags' representation for a type."""
    store = get_typestore_with_ours()
    typename = normalize_type_name(name)
    try:
        return store.fielddefs[typename]
    except KeyError:
        raise MessageError(f'unknown message type {typename!r}') from None


def list_types() -> list[str]:
    """All known message type names."""
    return sorted(get_typestore_with_ours().fielddefs)


def message_definition(name: str | type) -> tuple[str, str]:
    """(full message definition text, rosbags format) for bag writers."""
    return get_typestore_with_ours().generate_msgdef(normalize_type_name(name), ros_version=2)


# ----------------------------------------------------------------------------------------------------------------
# Primitive type table
# ----------------------------------------------------------------------------------------------------------------

# ros type -> (struct char, size, numpy dtype, python default)
_PRIM: dict[str, tuple[str, int, str, Any]] = {
    'bool': ('?', 1, '?', False),
    'byte': ('B', 1, 'u1', 0),
    'char': ('B', 1, 'u1', 0),
    'int8': ('b', 1, 'i1', 0),
    'uint8': ('B', 1, 'u1', 0),
    'int16': ('h', 2, '<i2', 0),
    'uint16': ('H', 2, '<u2', 0),
    'int32': ('i', 4, '<i4', 0),
    'uint32': ('I', 4, '<u4', 0),
    'int64': ('q', 8, '<i8', 0),
    'uint64': ('Q', 8, '<u8', 0),
    'float32': ('f', 4, '<f4', 0.0),
    'float64': ('d', 8, '<f8', 0.0),
}


def _prim(name: str) -> tuple[str, int, str, Any]:
    try:
        return _PRIM[name]
    except KeyError:
        raise MessageError(f'unsupported primitive type {name!r}') from None


# ----------------------------------------------------------------------------------------------------------------
# Message base class
# ----------------------------------------------------------------------------------------------------------------


class Message:
    """Base of all generated message classes (rclpy-like: keyword constructor, attributes, equality)."""

    __slots__ = ()
    __msgtype__: str = ''
    _fields: tuple[str, ...] = ()
    _field_types: dict[str, str] = {}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for name in self._fields:
            a, b = getattr(self, name), getattr(other, name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not np.array_equal(np.asarray(a), np.asarray(b)):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        pkg, kind, typ = self.__msgtype__.split('/')
        inner = ', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)
        return f'{pkg}.{kind}.{typ}({inner})'

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        """Field name -> ROS type string (same shape as rclpy's method)."""
        return dict(cls._field_types)

    def __copy__(self):
        new = object.__new__(type(self))
        for name in self._fields:
            setattr(new, name, getattr(self, name))
        return new

    def __deepcopy__(self, memo):
        return deserialize(serialize(self), type(self))


def _ros_type_str(desc) -> str:
    """ROS type string for a rosbags field descriptor (for get_fields_and_field_types)."""
    kind, rest = desc
    if kind == Nodetype.BASE:
        base, bound = rest
        return f'{base}<={bound}' if bound else base
    if kind == Nodetype.NAME:
        return rest
    sub, n = rest
    inner = _ros_type_str(sub)
    if kind == Nodetype.ARRAY:
        return f'{inner}[{n}]'
    return f'sequence<{inner}, {n}>' if n else f'sequence<{inner}>'


_classes: dict[str, type] = {}


def get_message(name: str | type) -> type:
    """Message class for 'pkg/msg/Type' (or 'pkg/Type', 'pkg.msg.Type'); raises MessageError if unknown."""
    if isinstance(name, type) and issubclass(name, Message):
        return name
    typename = normalize_type_name(name)
    cls = _classes.get(typename)
    if cls is not None:
        return cls
    with _lock:
        cls = _classes.get(typename)
        if cls is None:
            cls = _make_class(typename)
            _classes[typename] = cls
        return cls


class ServiceType:
    """A service type as rclpy's generated ones look: ``Request`` and ``Response`` message classes."""

    __slots__ = ('__srvtype__', 'Request', 'Response')

    def __init__(self, name: str) -> None:
        self.__srvtype__ = name
        self.Request = get_message(name + '_Request')
        self.Response = get_message(name + '_Response')

    def __repr__(self) -> str:
        return f'<service {self.__srvtype__}>'


_services: dict[str, ServiceType] = {}


def get_service(name: str | ServiceType) -> ServiceType:
    """Service type for 'pkg/srv/Name' (or 'pkg/Name'); raises MessageError naming it if unknown."""
    if isinstance(name, ServiceType):
        return name
    parts = name.replace('::', '/').replace('.', '/').strip('/').split('/')
    if len(parts) == 2:
        parts = [parts[0], 'srv', parts[1]]
    if len(parts) != 3 or parts[1] != 'srv' or not all(parts):
        raise MessageError(f"invalid service type name {name!r}; expected 'pkg/srv/Name'")
    typename = '/'.join(parts)
    with _lock:
        if typename not in _services:
            try:
                _services[typename] = ServiceType(typename)
            except MessageError:
                raise MessageError(f'unknown service type {typename!r} (its .srv is not in ros_ws/src/*/srv, '
                                   f'ros_ws/vendor/*/srv or EDGEPILOT_MSG_PATH)') from None
        return _services[typename]


def _default_expr(desc, env: dict, key: str) -> str:
    """Python expression building a field's default value (evaluated per construction)."""
    kind, rest = desc
    if kind == Nodetype.BASE:
        base, _bound = rest
        if base == 'string':
            return "''"
        return repr(_prim(base)[3])
    if kind == Nodetype.NAME:
        env[key] = get_message(rest)
        return f'{key}()'
    sub, n = rest
    if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
        env[key + '_dt'] = np.dtype(_prim(sub[1][0])[2])
        if kind == Nodetype.ARRAY:
            return f'_np.zeros({n}, {key}_dt)'
        return f'_np.empty(0, {key}_dt)'
    if kind == Nodetype.ARRAY:
        return f'[{_default_expr(sub, env, key + "_e")} for _ in range({n})]'
    return '[]'


def _coerce_expr(desc, var: str, env: dict, key: str) -> str:
    """Expression converting a user-supplied value (lists -> numpy arrays for primitive arrays)."""
    kind, rest = desc
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        sub = rest[0]
        if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
            return f'_as_array({var}, {key}_dt)'
        return f'list({var})'
    return var


def _as_array(value: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(value, (bytes, bytearray, memoryview)) and dtype.itemsize == 1:
        return np.frombuffer(value, dtype).copy()
    return np.asarray(value, dtype=dtype).reshape(-1)


def _make_class(typename: str) -> type:
    consts, fields = field_definitions(typename)
    pkg, _, typ = typename.split('/')
    env: dict[str, Any] = {'_np': np, '_as_array': _as_array}
    names = [f[0] for f in fields]
    params, body = [], []
    for idx, (fname, desc) in enumerate(fields):
        key = f'_d{idx}'
        default = _default_expr(desc, env, key)
        params.append(f'{fname}=None')
        coerce = _coerce_expr(desc, fname, env, key)
        body.append(f'    self.{fname} = {default} if {fname} is None else {coerce}')
    src = f"def __init__(self, *, {', '.join(params)}):\n" if params else 'def __init__(self):\n'
    src += '\n'.join(body) if body else '    pass'
    exec(compile(src, f'<msg {typename} __init__>', 'exec'), env)  # noqa: S102 - generated from .msg definitions
    ns: dict[str, Any] = {
        '__slots__': tuple(names),
        '__msgtype__': typename,
        '__module__': f'edgepilot.ros.msgs.{pkg}.msg',
        '__qualname__': typ,
        '__init__': env['__init__'],
        '_fields': tuple(names),
        '_field_types': {f[0]: _ros_type_str(f[1]) for f in fields},
    }
    for cname, ctype, cvalue in consts:
        ns[cname] = cvalue
    return type(typ, (Message,), ns)


# ----------------------------------------------------------------------------------------------------------------
# Codec generation
# ----------------------------------------------------------------------------------------------------------------

_U32 = struct.Struct('<I')
_ZEROS = tuple(b'\x00' * i for i in range(8))


def _run_structs(chars: list[tuple[str, int]]) -> tuple[struct.Struct, ...]:
    """For a run of primitives: one Struct per start phase (pos % 8) with XCDR1 padding built in."""
    out = []
    for phase in range(8):
        fmt, pos = '<', phase
        for ch, size in chars:
            align = size  # XCDR1: natural alignment, 8-byte types aligned to 8
            pad = -pos % align
            if pad:
                fmt += f'{pad}x'
            fmt += ch
            pos += pad + size
        out.append(struct.Struct(fmt))
    return tuple(out)


class _Gen:
    """Generates the source of ``_w(parts, pos, m) -> pos`` and ``_r(data, base, pos) -> (m, pos)`` for one type."""

    def length_prefix(self, cnt: str, fixed: int | None, bound: int | None, fname: str, ind: str) -> None:
        """Element count of an array/sequence: checked against a fixed size, or bounded and written as the
        4-byte-aligned uint32 length prefix of a CDR sequence; the reader gets it in `n`."""
        if fixed is not None:
            self.w += [f'{ind}if {cnt} != {fixed}:',
                       f"{ind}    raise _MessageError('{self.typename}: field {fname} needs {fixed} elements, got %d' % {cnt})"]
            self.r.append(f'{ind}n = {fixed}')
            return
        if bound:
            self.w += [f'{ind}if {cnt} > {bound}:',
                       f"{ind}    raise _MessageError('{self.typename}: field {fname} exceeds bound {bound}')"]
        self.w += [f'{ind}pad = -pos & 3', f'{ind}parts.append(_ZEROS[pad] + _pack_u32({cnt}))', f'{ind}pos += pad + 4']
        self.r += [f'{ind}pos += -pos & 3', f'{ind}n, = _unpack_u32(data, base + pos)', f'{ind}pos += 4']

    def __init__(self, typename: str) -> None:
        self.typename = typename
        self.env: dict[str, Any] = {
            '_np': np, '_U32': _U32, '_ZEROS': _ZEROS, '_pack_u32': _U32.pack, '_unpack_u32': _U32.unpack_from,
            '_seq_bytes': _seq_bytes, '_MessageError': MessageError, '_new': object.__new__,
        }
        self.w: list[str] = []
        self.r: list[str] = []
        self.run: list[tuple[str, str, int, str]] = []  # (write expr, read target, size, struct char)
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f'{prefix}{self.n}'

    def flush(self, ind: str = '    ') -> None:
        if not self.run:
            return
        key = self.name('_S')
        self.env[key] = _run_structs([(c, s) for _, _, s, c in self.run])
        wexprs = ', '.join(w for w, _, _, _ in self.run)
        rtargets = ', '.join(t for _, t, _, _ in self.run)
        self.w += [f'{ind}s = {key}[pos & 7]', f'{ind}parts.append(s.pack({wexprs}))', f'{ind}pos += s.size']
        self.r += [f'{ind}s = {key}[pos & 7]', f'{ind}({rtargets},) = s.unpack_from(data, base + pos)',
                   f'{ind}pos += s.size']
        self.run = []

    def fields(self, typename: str, wvar: str, rvar: str, ind: str = '    ') -> None:
        """Emit code for all fields of ``typename``; nested messages are flattened (no per-message calls)."""
        _consts, fields = field_definitions(typename)
        for fname, desc in fields:
            self.field(desc, f'{wvar}.{fname}', rvar, fname, ind)

    def field(self, desc, wexpr: str, robj: str, fname: str, ind: str) -> None:
        kind, rest = desc
        rtarget = f'{robj}.{fname}'
        if kind == Nodetype.BASE:
            base, bound = rest
            if base == 'string':
                self.flush(ind)
                self.string_w(wexpr, bound, ind)
                self.w.append('')
                self.string_r(rtarget, ind)
                return
            ch, size, _dt, _default = _prim(base)
            self.run.append((wexpr, rtarget, size, ch))
            return
        if kind == Nodetype.NAME:
            cls_key = self.name('_C')
            self.env[cls_key] = get_message(rest)
            sub = self.name('o')
            self.r.append(f'{ind}{sub} = {rtarget} = _new({cls_key})')
            wsub = self.name('w')
            self.w.append(f'{ind}{wsub} = {wexpr}')
            self.fields(rest, wsub, sub, ind)
            return
        self.flush(ind)
        sub, count = rest
        fixed = count if kind == Nodetype.ARRAY else None
        bound = count if kind == Nodetype.SEQUENCE and count else None
        if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
            self.prim_array(sub[1][0], wexpr, rtarget, fixed, bound, fname, ind)
            return
        # arrays of strings / messages: loop
        v = self.name('v')
        self.w.append(f'{ind}{v} = {wexpr}')
        self.length_prefix(f'len({v})', fixed, bound, fname, ind)
        item = self.name('it')
        lst = self.name('l')
        self.w.append(f'{ind}for {item} in {v}:')
        self.r += [f'{ind}{lst} = []', f'{ind}for _ in range(n):']
        if sub[0] == Nodetype.BASE:  # string
            self.string_w(item, sub[1][1], ind + '    ')
            tmp = self.name('t')
            self.string_r(tmp, ind + '    ')
            self.r.append(f'{ind}    {lst}.append({tmp})')
        else:
            fn_key = self.name('_F')
            self.env[fn_key] = _Lazy(sub[1])
            self.w.append(f'{ind}    pos = {fn_key}.w(parts, pos, {item})')
            tmp = self.name('t')
            self.r += [f'{ind}    {tmp}, pos = {fn_key}.r(data, base, pos)', f'{ind}    {lst}.append({tmp})']
        self.r.append(f'{ind}{rtarget} = {lst}')

    def string_w(self, wexpr: str, bound: int, ind: str) -> None:
        b = self.name('b')
        self.w += [f'{ind}{b} = {wexpr}.encode()']
        if bound:
            self.w += [f'{ind}if len({b}) > {bound}:',
                       f"{ind}    raise _MessageError('{self.typename}: string exceeds bound {bound}')"]
        self.w += [f'{ind}pad = -pos & 3', f"{ind}parts.append(_ZEROS[pad] + _pack_u32(len({b}) + 1) + {b} + b'\\x00')",
                   f'{ind}pos += pad + 5 + len({b})']

    def string_r(self, target: str, ind: str) -> None:
        self.r += [f'{ind}pos += -pos & 3', f'{ind}n, = _unpack_u32(data, base + pos)',
                   f"{ind}{target} = str(data[base + pos + 4:base + pos + 3 + n], 'utf-8')", f'{ind}pos += 4 + n']

    def prim_array(self, base: str, wexpr: str, rtarget: str, fixed, bound, fname: str, ind: str) -> None:
        _ch, size, dt, _ = _prim(base)
        dkey = self.name('_D')
        self.env[dkey] = np.dtype(dt)
        raw = self.name('raw')
        self.w.append(f'{ind}{raw} = _seq_bytes({wexpr}, {dkey})')
        cnt = f'(len({raw}) // {size})' if size > 1 else f'len({raw})'
        self.length_prefix(cnt, fixed, bound, fname, ind)
        if size > 1:
            self.w += [f'{ind}if {raw}:', f'{ind}    pad = -pos & {size - 1}', f'{ind}    if pad:',
                       f'{ind}        parts.append(_ZEROS[pad])', f'{ind}        pos += pad']
            self.r += [f'{ind}if n:', f'{ind}    pos += -pos & {size - 1}']
        self.w += [f'{ind}parts.append({raw})', f'{ind}pos += len({raw})']
        self.r += [f'{ind}{rtarget} = _np.frombuffer(data, {dkey}, n, base + pos).copy()', f'{ind}pos += n * {size}']

    def build(self) -> tuple[Callable, Callable]:
        cls_key = '_CLS'
        self.env[cls_key] = get_message(self.typename)
        self.r.append(f'    m = _new({cls_key})')
        self.fields(self.typename, 'm', 'm')
        self.flush()
        src = 'def _w(parts, pos, m):\n' + '\n'.join(self.w) + '\n    return pos\n\n'
        src += 'def _r(data, base, pos):\n' + '\n'.join(self.r) + '\n    return m, pos\n'
        self.source = src
        exec(compile(src, f'<codec {self.typename}>', 'exec'), self.env)  # noqa: S102 - generated from .msg
        return self.env['_w'], self.env['_r']


def _seq_bytes(value: Any, dtype: np.dtype):
    """Raw little-endian bytes (bytes or a buffer) of a primitive array value, without per-element Python work."""
    if type(value) is np.ndarray:
        if value.dtype != dtype:
            if dtype.kind in 'iu' and value.dtype.kind in 'iu' and value.size:
                info = np.iinfo(dtype)
                if value.min() < info.min or value.max() > info.max:
                    raise MessageError(f'array values out of range for {dtype}')
            value = value.astype(dtype)
        if not value.flags.c_contiguous:
            value = np.ascontiguousarray(value)
        return value.data.cast('B') if value.ndim else value.reshape(1).data.cast('B')
    if isinstance(value, (bytes, bytearray)):
        if dtype.itemsize != 1:
            raise MessageError(f'bytes given for an array of {dtype}')
        return value
    if isinstance(value, memoryview):
        return value.cast('B') if value.format != 'B' or value.ndim != 1 else value
    return _seq_bytes(np.asarray(value, dtype=dtype).reshape(-1), dtype)


class _Lazy:
    """Codec of a nested element type, built on first use (types may be generated in any order)."""

    __slots__ = ('typename', 'codec')

    def __init__(self, typename: str) -> None:
        self.typename = typename
        self.codec = None

    def w(self, parts, pos, m):
        if self.codec is None:
            self.codec = _codec(self.typename)
        return self.codec[0](parts, pos, m)

    def r(self, data, base, pos):
        if self.codec is None:
            self.codec = _codec(self.typename)
        return self.codec[1](data, base, pos)


_codecs: dict[str, tuple[Callable, Callable]] = {}


def _codec(typename: str) -> tuple[Callable, Callable]:
    codec = _codecs.get(typename)
    if codec is None:
        with _lock:
            codec = _codecs.get(typename)
            if codec is None:
                codec = _Gen(typename).build()
                _codecs[typename] = codec
    return codec


def codec_source(name: str | type) -> str:
    """Generated codec source of a type (for debugging)."""
    gen = _Gen(normalize_type_name(name))
    gen.build()
    return gen.source


def serialize(msg: Message) -> bytes:
    """XCDR1 little-endian bytes (with the 4-byte encapsulation header) of a message."""
    try:
        typename = msg.__msgtype__
    except AttributeError:
        raise MessageError(f'{type(msg).__name__} is not a message') from None
    write = _codec(typename)[0]
    parts = [CDR_LE_HEADER]
    try:
        write(parts, 0, msg)
    except MessageError:
        raise
    except (struct.error, AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise MessageError(f'cannot serialize {typename}: {exc}') from exc
    return b''.join(parts)


def deserialize(data: bytes | bytearray | memoryview, msg_type: str | type) -> Message:
    """Message from XCDR1 bytes (little-endian, with encapsulation header); trailing padding is ignored."""
    typename = normalize_type_name(msg_type) if not isinstance(msg_type, type) else message_type_name(msg_type)
    if len(data) < 4:
        raise MessageError(f'{typename}: {len(data)} bytes is too short for a CDR payload')
    if data[0] != 0 or data[1] != 1:
        raise MessageError(f'{typename}: unsupported encapsulation {bytes(data[:2]).hex()} (need XCDR1 little-endian 0001)')
    read = _codec(typename)[1]
    try:
        msg, _pos = read(data, 4, 0)
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise MessageError(f'cannot deserialize {typename}: {exc}') from exc
    return msg


def fill_message(msg: Any, values: dict[str, Any], where: str = '') -> Any:
    """Set fields of `msg` from a (nested) dict, as `ros2 service call`'s YAML argument; unknown fields are named."""
    if not isinstance(values, dict):
        raise MessageError(f'{where or msg.__msgtype__}: expected a mapping of field names, got {values!r}')
    fields = dict(field_definitions(msg.__msgtype__)[1])
    for key, value in values.items():
        path = f'{where}.{key}' if where else key
        if key not in fields:
            raise MessageError(f'{msg.__msgtype__} has no field {path!r} (fields: {", ".join(fields)})')
        kind, rest = fields[key]
        if kind == Nodetype.NAME and isinstance(value, dict):
            fill_message(getattr(msg, key), value, path)
        elif kind in (Nodetype.SEQUENCE, Nodetype.ARRAY) and rest[0][0] == Nodetype.NAME:
            cls = get_message(rest[0][1])
            setattr(msg, key, [fill_message(cls(), v, f'{path}[{i}]') for i, v in enumerate(value)])
        else:
            setattr(msg, key, value)
    return msg


def message_to_dict(msg: Any, truncate: int | None = None) -> Any:
    """Plain Python (dicts, lists, numbers, strings) of a message, for printing and JSON.

    `truncate`: arrays and strings longer than this are cut and end with '...' (as `ros2 topic echo`'s
    --truncate-length); None keeps everything."""
    if isinstance(msg, Message):
        return {name: message_to_dict(getattr(msg, name), truncate) for name in msg._fields}
    if isinstance(msg, np.ndarray):
        msg = msg.tolist()
    if isinstance(msg, (list, tuple)):
        items = [message_to_dict(v, truncate) for v in (msg if truncate is None else msg[:truncate])]
        if truncate is not None and len(msg) > truncate:
            items.append('...')
        return items
    if isinstance(msg, str) and truncate is not None and len(msg) > truncate:
        return msg[:truncate] + '...'
    if isinstance(msg, (bytes, bytearray)):
        return message_to_dict(list(msg), truncate)
    if isinstance(msg, np.generic):
        return msg.item()
    return msg


# ----------------------------------------------------------------------------------------------------------------
# rosbags interop
# ----------------------------------------------------------------------------------------------------------------


def to_rosbags(msg: Message, store=None) -> object:
    """Equivalent rosbags message object (for comparison and bag tooling)."""
    store = store or get_typestore_with_ours()
    typename = msg.__msgtype__
    cls = store.types[typename]
    _consts, fields = store.fielddefs[typename]
    kwargs = {}
    for fname, desc in fields:
        kwargs[fname] = _to_rb(getattr(msg, fname), desc, store)
    return cls(**kwargs)


def _to_rb(value, desc, store):
    kind, rest = desc
    if kind == Nodetype.NAME:
        return to_rosbags(value, store)
    if kind == Nodetype.BASE:
        if rest[0] == 'byte' and value > 127:  # rosbags packs byte as signed; same wire byte
            return value - 256
        return value
    sub = rest[0]
    if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
        dt = np.dtype(_prim(sub[1][0])[2])
        if isinstance(value, (bytes, bytearray, memoryview)):
            return np.frombuffer(value, dt).copy()
        return np.asarray(value, dtype=dt).reshape(-1)
    return [_to_rb(v, sub, store) for v in value]


def from_rosbags(obj: object, store=None) -> Message:
    """Our message object from a rosbags message object."""
    store = store or get_typestore_with_ours()
    typename = obj.__msgtype__
    cls = get_message(typename)
    _consts, fields = store.fielddefs[typename]
    msg = cls()
    for fname, desc in fields:
        setattr(msg, fname, _from_rb(getattr(obj, fname), desc, store))
    return msg


def _from_rb(value, desc, store):
    kind, rest = desc
    if kind == Nodetype.NAME:
        return from_rosbags(value, store)
    if kind == Nodetype.BASE:
        if rest[0] == 'byte' and value < 0:
            return value + 256
        return value
    sub = rest[0]
    if sub[0] == Nodetype.BASE and sub[1][0] != 'string':
        return np.asarray(value, dtype=np.dtype(_prim(sub[1][0])[2])).copy()
    return [_from_rb(v, sub, store) for v in value]


# ----------------------------------------------------------------------------------------------------------------
# Module-style access:  from edgepilot.ros.msgs import sensor_msgs;  sensor_msgs.msg.Image
# ----------------------------------------------------------------------------------------------------------------


class _MsgNamespace:
    """``<pkg>.msg``: attribute access resolves message classes lazily."""

    def __init__(self, pkg: str) -> None:
        self._pkg = pkg

    def __getattr__(self, name: str) -> type:
        if name.startswith('_'):
            raise AttributeError(name)
        try:
            return get_message(f'{self._pkg}/msg/{name}')
        except MessageError:
            raise AttributeError(f'no message type {self._pkg}/msg/{name}') from None

    def __dir__(self) -> list[str]:
        prefix = f'{self._pkg}/msg/'
        return [t[len(prefix):] for t in list_types() if t.startswith(prefix)]

    def __repr__(self) -> str:
        return f'<messages {self._pkg}.msg>'


def _packages() -> set[str]:
    return {t.split('/')[0] for t in get_typestore_with_ours().fielddefs}


def __getattr__(name: str) -> Any:
    """``msgs.sensor_msgs`` -> namespace with ``.msg``; unknown names raise AttributeError."""
    if not name.startswith('_') and name in _packages():
        ns = SimpleNamespace(msg=_MsgNamespace(name))
        globals()[name] = ns
        return ns
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
