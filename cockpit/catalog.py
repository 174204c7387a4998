"""The cockpit's tool catalog (../shared/specs/vehicle_functions.md) as data, JSON Schema and a validator.

Why one table of dataclasses: the published JSON Schema (OpenAI function-calling shape, `cockpit/tools.json`), the
validator the safety guard runs on every proposed call, and the spoken "I can set 16 to 30 degrees" refusals all
come from the same definition, so they cannot disagree. Names and argument names are the public API.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

TOOLS_JSON = Path(__file__).with_name("tools.json")
ZONES = ("driver", "passenger", "rear", "all")
WINDOWS = ("driver", "passenger", "rear_left", "rear_right", "all")
SEATS = ("driver", "passenger", "rear_left", "rear_right")
ADAS_FEATURES = ("lane_keeping", "adaptive_cruise", "blind_spot_warning", "emergency_braking")
QUERY_ITEMS = ("speed", "range", "fuel_level", "battery_level", "outside_temperature", "cabin_temperature",
               "tire_pressure", "odometer")


@dataclass(frozen=True)
class Arg:
    """One argument: JSON type (number, integer, boolean, string), range or enum, default (None = required unless
    `optional`), `step` for numbers ("16 to 30 in 0.5 steps"), `nonzero` for deltas, `unit` for spoken ranges."""

    name: str
    type: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    enum: tuple[str, ...] | None = None
    default: Any = None
    optional: bool = False
    nonzero: bool = False
    unit: str = ""

    @property
    def required(self) -> bool:
        return self.default is None and not self.optional

    def schema(self) -> dict[str, Any]:
        s: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.enum is not None:
            s["enum"] = list(self.enum)
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        if self.step is not None:
            s["multipleOf"] = self.step
        if self.nonzero:
            s["not"] = {"const": 0}
        if self.default is not None:
            s["default"] = self.default
        return s

    def range_text(self) -> str:
        """The valid values in words, for a spoken refusal."""
        if self.enum is not None:
            return ", ".join(self.enum[:-1]) + f" or {self.enum[-1]}" if len(self.enum) > 1 else self.enum[0]
        if self.type == "boolean":
            return "on or off"
        if self.minimum is not None and self.maximum is not None:
            lo, hi = _num_text(self.minimum), _num_text(self.maximum)
            text = f"{lo} to {hi}{' ' + self.unit if self.unit else ''}"
            if self.step is not None and self.step != 1:
                text += f" in steps of {_num_text(self.step)}"
            return text + (", not zero" if self.nonzero else "")
        return f"a {self.type}"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: tuple[Arg, ...] = ()
    actuating: bool = True         # sends a command to the car: counts towards the rate limit (query_vehicle reads)

    def arg(self, name: str) -> Arg:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)

    def schema(self) -> dict[str, Any]:
        """OpenAI function-calling shape: {type: function, function: {name, description, parameters}}."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": {"type": "object", "properties": {a.name: a.schema() for a in self.args},
                           "required": [a.name for a in self.args if a.required],
                           "additionalProperties": False}}}


def _zone(default: str = "all") -> Arg:
    return Arg("zone", "string", "climate zone", enum=ZONES, default=default)


CATALOG: tuple[Tool, ...] = (
    Tool("set_temperature", "Set the cabin temperature of a climate zone.",
         (Arg("celsius", "number", "target temperature", 16, 30, step=0.5, unit="degrees"), _zone())),
    Tool("adjust_temperature", "Make a climate zone warmer (positive) or cooler (negative); 'a bit warmer' is +1.",
         (Arg("delta_celsius", "number", "change in degrees Celsius", -5, 5, nonzero=True, unit="degrees"), _zone())),
    Tool("set_fan_speed", "Set the blower level; 0 is off.", (Arg("level", "integer", "fan level", 0, 7),)),
    Tool("set_ac", "Switch the air conditioning compressor on or off.", (Arg("on", "boolean", "on or off"),)),
    Tool("set_defrost", "Switch the front or rear window defrost on or off.",
         (Arg("target", "string", "which screen", enum=("front", "rear")), Arg("on", "boolean", "on or off"))),
    Tool("set_window", "Open a window to a percentage: open = 100, close = 0, crack = 20.",
         (Arg("window", "string", "which window", enum=WINDOWS),
          Arg("open_percent", "integer", "how far open", 0, 100, unit="percent"))),
    Tool("set_seat_heating", "Set a seat heater level; 0 is off.",
         (Arg("seat", "string", "which seat", enum=SEATS), Arg("level", "integer", "heating level", 0, 3))),
    Tool("set_lights", "Switch cabin lights; exterior lights are not voice-controlled.",
         (Arg("target", "string", "which cabin light", enum=("interior", "ambient", "reading")),
          Arg("on", "boolean", "on or off"),
          Arg("color", "string", "ambient light colour (ambient only)", optional=True))),
    Tool("set_volume", "Set the audio volume.", (Arg("percent", "integer", "volume", 0, 100, unit="percent"),)),
    Tool("adjust_volume", "Make the audio louder (positive) or quieter (negative); 'louder' is +10.",
         (Arg("delta_percent", "integer", "change in percent", -50, 50, nonzero=True, unit="percent"),)),
    Tool("media_control", "Pause, resume or skip the media.",
         (Arg("action", "string", "what to do", enum=("pause", "resume", "next", "previous")),)),
    Tool("media_play", "Play music or a station.",
         (Arg("query", "string", "what to play"),
          Arg("source", "string", "where from", enum=("radio", "bluetooth", "usb", "streaming"), optional=True))),
    Tool("navigate_to", "Start route guidance to a destination.", (Arg("destination", "string", "where to"),)),
    Tool("cancel_navigation", "Stop route guidance."),
    Tool("call_contact", "Phone a contact.", (Arg("name", "string", "who to call"),)),
    Tool("set_adas_feature", "Switch a driver-assistance feature on or off.",
         (Arg("feature", "string", "which feature", enum=ADAS_FEATURES), Arg("enabled", "boolean", "on or off"))),
    Tool("set_cruise_speed", "Set the adaptive cruise speed (adaptive cruise must be on).",
         (Arg("kph", "integer", "set speed", 30, 150, unit="kilometres per hour"),)),
    Tool("query_vehicle", "Answer a question about the car from its live state.",
         (Arg("item", "string", "what to report", enum=QUERY_ITEMS),), actuating=False),
    Tool("lock_doors", "Lock or unlock the doors.", (Arg("locked", "boolean", "locked or unlocked"),)),
    Tool("open_trunk", "Open the trunk (boot)."),
)
TOOLS: dict[str, Tool] = {t.name: t for t in CATALOG}


@dataclass(frozen=True)
class ToolCall:
    """A validated call: every argument present (defaults filled), types and ranges checked."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"tool": self.name, "args": dict(self.args)}


class ToolCallError(ValueError):
    """A proposed call that is not in the catalog's shape. `spoken` is the reply for the driver."""

    def __init__(self, message: str, spoken: str) -> None:
        super().__init__(message)
        self.spoken = spoken


def _num_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _check_arg(tool: Tool, a: Arg, value: Any) -> Any:
    where = f"{tool.name}.{a.name}"
    spoken = f"For {tool.name.replace('_', ' ')}, {a.name.replace('_', ' ')} can be {a.range_text()}."
    if a.type == "boolean":
        if not isinstance(value, bool):
            raise ToolCallError(f"{where}: expected true or false, got {value!r}", spoken)
        return value
    if a.type == "string":
        if not isinstance(value, str) or not value.strip():
            raise ToolCallError(f"{where}: expected a non-empty string, got {value!r}", spoken)
        if a.enum is not None:
            v = value.strip().lower()
            if v not in a.enum:
                raise ToolCallError(f"{where}: {value!r} is not one of {list(a.enum)}", spoken)
            return v
        return value.strip()
    # numbers; bool is an int subclass in Python and must not pass as one
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ToolCallError(f"{where}: expected a {a.type}, got {value!r}", spoken)
    if a.type == "integer":
        if float(value) != int(value):
            raise ToolCallError(f"{where}: expected a whole number, got {value!r}", spoken)
        value = int(value)
    if (a.minimum is not None and value < a.minimum) or (a.maximum is not None and value > a.maximum):
        raise ToolCallError(f"{where}: {value!r} is out of range [{_num_text(a.minimum)}, {_num_text(a.maximum)}]",
                            spoken)
    if a.step is not None and abs(value / a.step - round(value / a.step)) > 1e-9:
        raise ToolCallError(f"{where}: {value!r} is not a multiple of {_num_text(a.step)}", spoken)
    if a.nonzero and value == 0:
        raise ToolCallError(f"{where}: must not be zero", spoken)
    return float(value) if a.type == "number" else value


def validate_call(name: Any, args: Mapping[str, Any] | None = None) -> ToolCall:
    """The call with defaults filled, or ToolCallError naming the tool, argument and valid range."""
    if not isinstance(name, str) or name not in TOOLS:
        raise ToolCallError(f"unknown tool {name!r} (known: {', '.join(TOOLS)})",
                            "That is not something I can do in this car.")
    tool = TOOLS[name]
    args = {} if args is None else args
    if not isinstance(args, Mapping):
        raise ToolCallError(f"{name}: arguments must be an object, got {type(args).__name__}",
                            "Sorry, I did not get that request right.")
    unknown = sorted(set(args) - {a.name for a in tool.args})
    if unknown:
        raise ToolCallError(f"{name}: unknown argument(s) {unknown} (known: {[a.name for a in tool.args]})",
                            "Sorry, I did not get that request right.")
    out: dict[str, Any] = {}
    for a in tool.args:
        if a.name not in args or args[a.name] is None:
            if a.required:
                raise ToolCallError(f"{name}: missing argument {a.name!r}",
                                    f"Which {a.name.replace('_', ' ')}? It can be {a.range_text()}.")
            if a.default is not None:
                out[a.name] = a.default
            continue
        out[a.name] = _check_arg(tool, a, args[a.name])
    if name == "set_lights" and "color" in out and out["target"] != "ambient":
        raise ToolCallError(f"set_lights.color: only the ambient light has a colour, target is {out['target']!r}",
                            "Only the ambient light can change colour.")
    return ToolCall(name, out)


def tool_schemas() -> list[dict[str, Any]]:
    """The published catalog: a list of OpenAI function-calling tool definitions (JSON Schema parameters)."""
    return [t.schema() for t in CATALOG]


def write_tools_json(path: str | Path = TOOLS_JSON) -> Path:
    path = Path(path)
    path.write_text(json.dumps(tool_schemas(), indent=1) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":   # python -m cockpit.catalog: regenerate cockpit/tools.json
    print(write_tools_json())
