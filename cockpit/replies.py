"""Spoken confirmations of accepted calls, built from the call the guard accepted (not from the model's words), so
what the driver hears is what the car was told to do."""
from __future__ import annotations

from .catalog import ToolCall

_SEAT = {"driver": "your seat", "passenger": "the passenger seat", "rear_left": "the rear left seat",
         "rear_right": "the rear right seat"}
_ZONE = {"all": "", "driver": " on your side", "passenger": " on the passenger side", "rear": " in the back"}
_WINDOW = {"all": "all windows", "driver": "your window", "passenger": "the passenger window",
           "rear_left": "the rear left window", "rear_right": "the rear right window"}
_FEATURE = {"lane_keeping": "Lane keeping", "adaptive_cruise": "Adaptive cruise",
            "blind_spot_warning": "Blind spot warning", "emergency_braking": "Emergency braking"}


def _num(v: float) -> str:
    return f"{v:g}"


def describe(call: ToolCall) -> str:
    """One short sentence saying what was done."""
    a, n = call.args, call.name
    onoff = lambda b: "on" if b else "off"                                             # noqa: E731
    if n == "set_temperature":
        return f"Setting {_num(a['celsius'])} degrees{_ZONE[a['zone']]}."
    if n == "adjust_temperature":
        return f"{'Warmer' if a['delta_celsius'] > 0 else 'Cooler'} by {_num(abs(a['delta_celsius']))} " \
               f"degree{'' if abs(a['delta_celsius']) == 1 else 's'}{_ZONE[a['zone']]}."
    if n == "set_fan_speed":
        return "Fan off." if a["level"] == 0 else f"Fan on level {a['level']}."
    if n == "set_ac":
        return f"Air conditioning {onoff(a['on'])}."
    if n == "set_defrost":
        return f"{'Front' if a['target'] == 'front' else 'Rear'} defrost {onoff(a['on'])}."
    if n == "set_window":
        w, p = _WINDOW[a["window"]], a["open_percent"]
        return f"Closing {w}." if p == 0 else f"Opening {w}." if p == 100 else f"Opening {w} to {p} percent."
    if n == "set_seat_heating":
        return f"Seat heating off for {_SEAT[a['seat']]}." if a["level"] == 0 else \
            f"Heating {_SEAT[a['seat']]} on level {a['level']}."
    if n == "set_lights":
        colour = f", {a['color']}" if a.get("color") else ""
        return f"{a['target'].capitalize()} light {onoff(a['on'])}{colour}."
    if n == "set_volume":
        return f"Volume {a['percent']} percent."
    if n == "adjust_volume":
        return "Louder." if a["delta_percent"] > 0 else "Quieter."
    if n == "media_control":
        return {"pause": "Paused.", "resume": "Resuming.", "next": "Next track.", "previous": "Previous track."}[
            a["action"]]
    if n == "media_play":
        return f"Playing {a['query']}" + (f" from {a['source']}." if a.get("source") else ".")
    if n == "navigate_to":
        return f"Starting route guidance to {a['destination']}."
    if n == "cancel_navigation":
        return "Route guidance cancelled."
    if n == "call_contact":
        return f"Calling {a['name']}."
    if n == "set_adas_feature":
        return f"{_FEATURE[a['feature']]} {onoff(a['enabled'])}."
    if n == "set_cruise_speed":
        return f"Cruise set to {a['kph']} kilometres per hour."
    if n == "lock_doors":
        return "Doors locked." if a["locked"] else "Doors unlocked."
    if n == "open_trunk":
        return "Opening the trunk."
    return "Done."
