"""Classical ADAS: path/lead selection, ACC, FCW/AEB and LKA behind one deterministic planner."""
from adas.config import AdasConfig
from adas.planner import AdasPlanner
from adas.types import (NO_TTC_S, ActuationRequest, DriverSettings, EgoState, HmiState, LaneInfo, LaneLine,
                        Lead, LkaState, ObjectClass, Threat, TrackedObject)

__all__ = ["AdasConfig", "AdasPlanner", "ActuationRequest", "DriverSettings", "EgoState", "HmiState",
           "LaneInfo", "LaneLine", "Lead", "LkaState", "NO_TTC_S", "ObjectClass", "Threat", "TrackedObject"]
