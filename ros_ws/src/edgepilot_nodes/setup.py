"""ament_python build of the EdgePilot ROS 2 nodes; the node logic itself lives in the edgepilot packages."""
from glob import glob

from setuptools import setup

package_name = "edgepilot_nodes"

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        # ament index marker: lets `ros2 pkg` and `$(find-pkg-share)` find the package
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.xml")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="EdgePilot maintainers",
    maintainer_email="maintainers@edgepilot.dev",
    description="EdgePilot ROS 2 nodes (simulator, CAN bridge, ADAS, safety envelope, e2e perception) and their launch files.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "sim_node = edgepilot_nodes.sim_node:main",
            "can_bridge_node = edgepilot_nodes.can_bridge_node:main",
            "adas_node = edgepilot_nodes.adas_node:main",
            "safety_node = edgepilot_nodes.safety_node:main",
            "perception_node = edgepilot_nodes.perception_node:main",
            "cockpit_node = edgepilot_nodes.cockpit_node:main",
            "recorder_node = edgepilot_nodes.recorder_node:main",
        ],
    },
)
