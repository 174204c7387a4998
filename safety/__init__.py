"""Safety envelope: bounds every actuator command between the planner and the CAN bus."""
from safety.config import SafetyLimits
from safety.envelope import (LIMIT_ACCEL, LIMIT_AEB, LIMIT_JERK, LIMIT_STEER_ANGLE, LIMIT_STEER_RATE,
                             SafetyEnvelope, SafetyStatus, VehicleSnapshot, steer_angle_limit_deg,
                             steer_rate_limit_dps)

__all__ = ["LIMIT_ACCEL", "LIMIT_AEB", "LIMIT_JERK", "LIMIT_STEER_ANGLE", "LIMIT_STEER_RATE", "SafetyEnvelope",
           "SafetyLimits", "SafetyStatus", "VehicleSnapshot", "steer_angle_limit_deg", "steer_rate_limit_dps"]
