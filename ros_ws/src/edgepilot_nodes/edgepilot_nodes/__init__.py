"""edgepilot_nodes: thin ROS 2 node wrappers around the edgepilot packages (sim, CAN bridge, ADAS, safety)."""
