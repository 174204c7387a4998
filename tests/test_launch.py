"""ROS 2 XML launch without ROS 2: parsing, command lines, process supervision, and the ament packages."""
from __future__ import annotations

import argparse
import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from edgepilot.ros import launch as L
from edgepilot.ros.launch import LaunchError, LaunchService, NodeAction, parse_launch_file

REPO = Path(__file__).resolve().parents[1]
ROS_SRC = REPO / "ros_ws" / "src"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.fixture
def pkg_path(tmp_path, monkeypatch):
    """A fake package `demo_pkg` with a params file and an included launch file, found via EDGEPILOT_PKG_PATH."""
    root = tmp_path / "pkgs"
    write(root / "demo_pkg" / "package.xml", "<package format='3'><name>demo_pkg</name></package>")
    write(root / "demo_pkg" / "config" / "talker.yaml", "talker:\n  ros__parameters:\n    rate_hz: 10\n")
    write(root / "demo_pkg" / "launch" / "inner.launch.xml", """
        <launch>
          <arg name="inner_rate" default="5"/>
          <arg name="robot"/>
          <node pkg="demo_pkg" exec="listener" name="listener_$(var robot)">
            <param name="rate" value="$(var inner_rate)"/>
          </node>
        </launch>
    """)
    monkeypatch.setenv("EDGEPILOT_PKG_PATH", str(root))
    return root


# ------------------------------------------------------------------------------------------------- parsing


def test_args_substitutions_include_group_and_conditions(tmp_path, pkg_path, monkeypatch):
    monkeypatch.setenv("EP_TEST_TOPIC", "/chatter_env")
    monkeypatch.delenv("EP_TEST_UNSET", raising=False)
    f = write(tmp_path / "main.launch.xml", """
        <launch>
          <arg name="rate" default="20" description="publish rate"/>
          <arg name="use_extra" default="false"/>
          <arg name="robot" default="r1"/>
          <let name="topic" value="$(env EP_TEST_TOPIC)"/>
          <node pkg="demo_pkg" exec="talker" name="talker" namespace="ns1" output="screen"
                respawn="true" respawn_delay="1.5" args="--verbose 'two words'">
            <param from="$(find-pkg-share demo_pkg)/config/talker.yaml"/>
            <param name="rate_hz" value="$(var rate)"/>
            <param name="label" value="$(env EP_TEST_UNSET 'fallback value')"/>
            <param name="here" value="$(dirname)"/>
            <param name="limits">
              <param name="max" value="3"/>
            </param>
            <remap from="chatter" to="$(var topic)"/>
            <env name="EP_NODE_ENV" value="x"/>
          </node>
          <node pkg="demo_pkg" exec="extra" if="$(var use_extra)"/>
          <node pkg="demo_pkg" exec="not_extra" unless="$(var use_extra)"/>
          <group>
            <push-ros-namespace namespace="grouped"/>
            <include file="$(find-pkg-share demo_pkg)/launch/inner.launch.xml">
              <arg name="inner_rate" value="$(var rate)"/>
            </include>
          </group>
          <node pkg="demo_pkg" exec="after_group" name="after"/>
        </launch>
    """)
    desc = parse_launch_file(f, {"rate": "50"})
    by_exec = {n.exec: n for n in desc.nodes}
    assert [n.exec for n in desc.nodes] == ["talker", "not_extra", "listener", "after_group"]

    talker = by_exec["talker"]
    assert talker.namespace == "/ns1" and talker.output == "screen"
    assert talker.respawn and talker.respawn_delay == 1.5
    assert talker.args == ["--verbose", "two words"]
    assert talker.params[0] == pkg_path / "demo_pkg" / "config" / "talker.yaml"
    assert talker.params[1] == {"rate_hz": "50", "label": "fallback value", "here": str(tmp_path.resolve()),
                                "limits.max": "3"}
    assert talker.remaps == [("chatter", "/chatter_env")]
    assert talker.env == {"EP_NODE_ENV": "x"}

    listener = by_exec["listener"]          # included: parent's config visible, include arg overrides default
    assert listener.name == "listener_r1" and listener.namespace == "/grouped"
    assert listener.params == [{"rate": "50"}]
    assert by_exec["after_group"].namespace is None      # the group scoped the pushed namespace
    assert desc.configurations["rate"] == "50" and "inner_rate" not in desc.configurations
    assert len(desc.files) == 2 and desc.warnings == []

    assert [n.exec for n in parse_launch_file(f, {"use_extra": "true"}).nodes][:2] == ["talker", "extra"]
    assert parse_launch_file(f, {"nope": "1"}).warnings == ["launch argument 'nope' was given but no <arg> declares it"]


def test_command_line_is_what_ros2_launch_passes():
    node = NodeAction(pkg="p", exec="e", name="n", namespace="/ns",
                      params=[{"a": "1", "b": "x y"}, Path("/cfg/p.yaml"), {"c": "true"}],
                      remaps=[("in", "/out")], args=["--flag"])
    assert L.default_command(node) == [
        sys.executable, "-m", "edgepilot.ros.run_node", "p", "e", "--flag", "--ros-args",
        "-r", "__node:=n", "-r", "__ns:=/ns", "-p", "a:=1", "-p", "b:=x y", "--params-file", "/cfg/p.yaml",
        "-p", "c:=true", "-r", "in:=/out"]
    bare = NodeAction(pkg="p", exec="e")
    assert L.default_command(bare)[-1] == "--ros-args"   # no name/namespace: the node picks its own
    assert L.format_command(NodeAction(pkg="p", exec="e", env={"K": "a b"})).startswith("K='a b' ")


def test_namespace_rules(tmp_path):
    f = write(tmp_path / "ns.launch.xml", """
        <launch>
          <push-ros-namespace namespace="top"/>
          <node pkg="p" exec="rel" namespace="sub"/>
          <node pkg="p" exec="abs" namespace="/abs"/>
          <group><push_ros_namespace namespace="/reset"/><node pkg="p" exec="reset"/></group>
          <set_parameter name="use_sim_time" value="true"/>
          <set_remap from="a" to="b"/>
          <set_env name="EP_X" value="1"/>
          <node pkg="p" exec="global"><param name="k" value="v"/></node>
        </launch>
    """)
    nodes = {n.exec: n for n in parse_launch_file(f).nodes}
    assert nodes["rel"].namespace == "/top/sub"
    assert nodes["abs"].namespace == "/abs"
    assert nodes["reset"].namespace == "/reset"
    g = nodes["global"]
    assert g.params == [{"use_sim_time": "true", "k": "v"}] and g.remaps == [("a", "b")] and g.env == {"EP_X": "1"}


@pytest.mark.parametrize("body, expected", [
    ('<nod pkg="p" exec="e"/>', r"bad\.launch\.xml:3: <nod>: unknown element <nod>"),
    ('<node pkg="p" exec="e" nmae="x"/>', r"bad\.launch\.xml:3: <node>: unknown attribute 'nmae'"),
    ('<node pkg="p"/>', r"<node>: missing required attribute 'exec'"),
    ('<node pkg="p" exec="e"><remap from="a"/></node>', r"<remap>: missing required attribute 'to'"),
    ('<node pkg="p" exec="e"><arg name="a" value="b"/></node>', r"<arg>: element not allowed inside <node>"),
    ('<node pkg="p" exec="e" name="$(var missing)"/>',
     r"<node>: attribute 'name': unknown launch configuration 'missing'"),
    ('<include file="$(dirname)/x.launch.py"/>', r"<include>: attribute 'file': only XML launch files"),
    ('<node pkg="p" exec="$(var req"/>', r"<node>: attribute 'exec': unterminated substitution"),
    ('<node pkg="p" exec="$(eval 1+1)"/>', r"<node>: attribute 'exec': unsupported substitution '\$\(eval\)'"),
    ('<node pkg="$(find-pkg-share no_such_pkg)" exec="e"/>', r"attribute 'pkg': package 'no_such_pkg' not found"),
    ('<node pkg="p" exec="e" respawn="maybe"/>', r"<node>: attribute 'respawn': expected true/false"),
    ('<node pkg="p" exec="e" if="yes"/>', r"<node>: attribute 'if': expected true/false"),
    ('<node pkg="p" exec="e"><param from="missing.yaml"/></node>', r"<param>: attribute 'from': file not found"),
    ('<node pkg="p" exec="e" on_exit="restart"/>', r"attribute 'on_exit': only 'shutdown'"),
    ('<group><node pkg="p" exec="e" output="tty"/></group>', r"bad\.launch\.xml:3: <node>: attribute 'output'"),
    ('<node pkg="p" exec="e"', r"bad\.launch\.xml:\d+: malformed XML"),
])
def test_errors_name_file_element_and_attribute(tmp_path, body, expected):
    (tmp_path / "x.launch.py").write_text("")
    f = write(tmp_path / "bad.launch.xml", f"""
        <launch>
          <arg name="req" default="1"/>
          {body}
        </launch>
    """)
    with pytest.raises(LaunchError, match=expected):
        parse_launch_file(f)


def test_missing_required_arg_and_choices(tmp_path):
    f = write(tmp_path / "req.launch.xml", """
        <launch>
          <arg name="map" description="map file"/>
          <arg name="mode" default="a"><choice value="a"/><choice value="b"/></arg>
        </launch>
    """)
    with pytest.raises(LaunchError, match=r"req\.launch\.xml:2: <arg>: launch argument 'map' is required.*map:=VALUE"):
        parse_launch_file(f)
    assert parse_launch_file(f, {"map": "m.yaml"}).configurations["map"] == "m.yaml"
    with pytest.raises(LaunchError, match=r"'mode' = 'c' is not one of \['a', 'b'\]"):
        parse_launch_file(f, {"map": "m", "mode": "c"})


def test_include_cycle_and_unknown_element_in_disabled_branch(tmp_path):
    write(tmp_path / "a.launch.xml", '<launch><include file="$(dirname)/a.launch.xml"/></launch>')
    with pytest.raises(LaunchError, match="include cycle"):
        parse_launch_file(tmp_path / "a.launch.xml")
    f = write(tmp_path / "off.launch.xml", '<launch><group if="false"><bogus/></group></launch>')
    with pytest.raises(LaunchError, match=r"off\.launch\.xml:1: <bogus>: unknown element <bogus> inside <group>"):
        parse_launch_file(f)


def test_cli_subcommand_resolves_pkg_file_and_dry_runs(pkg_path, capsys):
    parser = argparse.ArgumentParser(prog="edgepilot")
    L.add_parser(parser.add_subparsers(dest="cmd"))
    ns = parser.parse_args(["launch", "demo_pkg", "inner.launch.xml", "--dry-run", "robot:=r7", "inner_rate:=9"])
    assert ns.dry_run and ns.func(ns) == 0
    out = capsys.readouterr().out
    assert "edgepilot.ros.run_node demo_pkg listener --ros-args -r __node:=listener_r7 -p rate:=9" in out
    ns = parser.parse_args(["launch", "demo_pkg", "inner.launch.xml", "--dry-run"])
    assert ns.func(ns) == 2
    assert "launch argument 'robot' is required" in capsys.readouterr().err
    with pytest.raises(LaunchError, match="not of the form name:=value"):
        L.parse_cli_args(["robot=r1"])


# ---------------------------------------------------------------------------------------------- execution

SCRIPTS = {
    "talker": "print('hello from talker'); print('second line')",
    "crasher": "import sys; print('about to fail', file=sys.stderr); print('boom', file=sys.stderr); sys.exit(3)",
    # exits 1 on its first two starts, then stays up until interrupted
    "flaky": textwrap.dedent("""
        import os, sys, time
        p = os.environ['EP_COUNTER']
        n = int(open(p).read()) + 1 if os.path.exists(p) else 1
        if n <= 2:
            open(p, 'w').write(str(n))
            print(f'flaky start {n} failing', file=sys.stderr); sys.exit(1)
        try:
            print('flaky up', flush=True)
            open(p, 'w').write(str(n))
            time.sleep(60)
        except KeyboardInterrupt:
            pass
    """),
    # the "simulator": waits until EP_WAIT_FOR holds EP_WAIT_CONTENT, then finishes -> launch shuts down
    "sim": textwrap.dedent("""
        import os, time
        p, want = os.environ['EP_WAIT_FOR'], os.environ.get('EP_WAIT_CONTENT', 'ready')
        deadline = time.monotonic() + 60   # generous: a loaded CI box starts Python slowly
        while time.monotonic() < deadline and not (os.path.exists(p) and open(p).read() == want):
            time.sleep(0.05)
        print('scenario done')
    """),
    "sleeper": textwrap.dedent("""
        import os, time
        try:
            p = os.environ['EP_WAIT_FOR']
            open(p + '.tmp', 'w').write('ready')
            os.replace(p + '.tmp', p)
            time.sleep(60)
        except KeyboardInterrupt:
            print('sleeper stopping', flush=True)
    """),
}


def script_builder(node: NodeAction) -> list[str]:
    return [sys.executable, "-c", SCRIPTS[node.exec], *node.ros_arguments()]


def run_service(nodes, **kw):
    out, err = io.StringIO(), io.StringIO()
    rc = LaunchService(nodes, command_builder=script_builder, stdout=out, stderr=err, handle_signals=False,
                       sigint_timeout=5, sigterm_timeout=5, **kw).run()
    return rc, out.getvalue(), err.getvalue()


def test_output_prefix_and_crash_report():
    rc, out, err = run_service([NodeAction("p", "talker", name="talker"), NodeAction("p", "crasher", name="bad")])
    assert rc == 1
    assert "[talker] hello from talker\n[talker] second line\n" in out
    assert "[bad] boom" in err
    report = re.search(r"\[launch\] ERROR: node 'bad' crashed: exit code 3; last stderr lines:\n(.*)", err, re.S)
    assert report and "about to fail" in report.group(1) and "boom" in report.group(1)


def test_respawn_until_up_then_required_node_shuts_down(tmp_path):
    env = {"EP_COUNTER": str(tmp_path / "count"), "EP_WAIT_FOR": str(tmp_path / "count"), "EP_WAIT_CONTENT": "3"}
    nodes = [NodeAction("p", "flaky", name="flaky", respawn=True, respawn_delay=0.1, env=env),
             NodeAction("p", "sim", name="sim", on_exit="shutdown", env=env)]
    rc, out, err = run_service(nodes)
    assert (tmp_path / "count").read_text() == "3"
    assert err.count("respawned node 'flaky'") == 2
    assert err.count("node 'flaky' crashed: exit code 1") == 2
    assert "[flaky] flaky up" in out and "[sim] scenario done" in out
    assert "shutting down: required node 'sim' exited (exit code 0)" in err
    assert "node 'flaky' exited cleanly" in err   # stopped by SIGINT at shutdown
    assert rc == 1                                # the two crashes are still reported


@pytest.mark.parametrize("parent_ignores_sigint", [False, True])
def test_required_node_exit_stops_the_others(tmp_path, parent_ignores_sigint):
    """The other nodes get SIGINT and shut down cleanly, also when the launch itself runs with SIGINT ignored (a
    `&` job of a non-interactive shell): children must not inherit that, or they never see KeyboardInterrupt."""
    env = {"EP_WAIT_FOR": str(tmp_path / "ready")}
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if parent_ignores_sigint else None
    try:
        rc, out, err = run_service([NodeAction("p", "sleeper", name="s1", env=env),
                                    NodeAction("p", "sim", name="sim", on_exit="shutdown", env=env)])
    finally:
        if parent_ignores_sigint:
            signal.signal(signal.SIGINT, old)
    assert rc == 0
    assert "[s1] sleeper stopping" in out
    assert "node 's1' exited cleanly" in err


def test_all_non_respawn_nodes_done_ends_launch():
    rc, out, _ = run_service([NodeAction("p", "talker", name="a"), NodeAction("p", "talker", name="a")])
    assert rc == 0 and "[a] hello from talker" in out and "[a-2] hello from talker" in out


DRIVER = textwrap.dedent("""
    import os, sys
    from edgepilot.ros.launch import LaunchService, NodeAction
    tmp = sys.argv[1]
    node = '''
    import os, subprocess, sys, signal, time
    name = sys.argv[1]
    if name == 'stubborn':
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    if name == 'parent':
        gc = ("import os, sys, time, signal; signal.signal(signal.SIGINT, lambda *a: sys.exit(0)); "
              "open(sys.argv[1] + '.tmp', 'w').write(str(os.getpid())); os.replace(sys.argv[1] + '.tmp', sys.argv[1]); "
              "time.sleep(60)")
        subprocess.Popen([sys.executable, '-c', gc, os.path.join(sys.argv[2], 'grandchild.pid')])
    pid_file = os.path.join(sys.argv[2], name + '.pid')
    open(pid_file + '.tmp', 'w').write(str(os.getpid()))
    os.replace(pid_file + '.tmp', pid_file)   # atomic: the test never reads a half-written file
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        pass
    '''
    build = lambda n: [sys.executable, '-c', node, n.name, tmp]
    nodes = [NodeAction('p', 'x', name=n) for n in ('plain', 'parent', 'stubborn')]
    sys.exit(LaunchService(nodes, command_builder=build, sigint_timeout=1.0, sigterm_timeout=5.0).run())
""")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigint_stops_every_child_and_grandchild(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    names = ["plain", "parent", "stubborn", "grandchild"]
    try:
        deadline = time.monotonic() + 15
        while not all((tmp_path / f"{n}.pid").exists() for n in names) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all((tmp_path / f"{n}.pid").exists() for n in names), "nodes did not start"
        pids = {n: int((tmp_path / f"{n}.pid").read_text()) for n in names}
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=20)
        assert driver.returncode == 0, err
        assert "shutting down: received SIGINT" in err
        assert "escalating to SIGTERM for 'stubborn'" in err
        assert not [n for n, pid in pids.items() if _alive(pid)]
    finally:   # never leave processes behind when the test fails
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
        for n in names:
            f = tmp_path / f"{n}.pid"
            if f.exists() and _alive(int(f.read_text())):
                os.kill(int(f.read_text()), signal.SIGKILL)


# ------------------------------------------------------------------------------------ the ament packages

LAUNCH_FILES = sorted(ROS_SRC.glob("*/launch/*.launch.xml"))
PACKAGE_XMLS = sorted(ROS_SRC.glob("*/package.xml"))

# What the launch / launch_ros XML frontends accept (the subset our launch files may use), by element.
ROS_LAUNCH_XML = {
    "launch": {"version"},
    "arg": {"name", "default", "description", "if", "unless"},
    "choice": {"value", "description"},
    "include": {"file", "if", "unless"},
    "node": {"pkg", "exec", "name", "namespace", "output", "respawn", "respawn_delay", "args", "ros_args",
             "on_exit", "launch-prefix", "if", "unless"},
    "param": {"name", "value", "from"},
    "remap": {"from", "to"},
    "env": {"name", "value"},
    "group": {"scoped", "if", "unless"},
    "push-ros-namespace": {"namespace", "if", "unless"},
    "let": {"name", "value", "if", "unless"},
    "set_env": {"name", "value", "if", "unless"},
}


def test_launch_files_exist_and_cover_the_stack():
    names = [p.name for p in LAUNCH_FILES]
    assert "sim_stack.launch.xml" in names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_launch_file_parses_with_only_ros_launch_xml(path):
    for el in ET.parse(path).iter():
        assert el.tag in ROS_LAUNCH_XML, f"{path}: <{el.tag}> is not launch_ros XML"
        extra = set(el.attrib) - ROS_LAUNCH_XML[el.tag]
        assert not extra, f"{path}: <{el.tag}> has attributes {extra} not accepted by ros2 launch"
    desc = parse_launch_file(path)   # defaults only: every arg must have one or the file is not runnable as is
    assert desc.nodes
    for node in desc.nodes:
        setup = (ROS_SRC / node.pkg / "setup.py").read_text()
        assert f"{node.exec} = " in setup, f"{path}: exec {node.exec!r} is not a console_script of {node.pkg}"
        for p in node.params:
            if isinstance(p, Path):
                data = yaml.safe_load(p.read_text())
                key = node.name if node.name in data else "/**"
                assert "ros__parameters" in data[key], f"{p}: no ros__parameters for node {node.name!r}"


def test_sim_stack_nodes_and_params():
    desc = parse_launch_file(ROS_SRC / "edgepilot_nodes" / "launch" / "sim_stack.launch.xml",
                             {"scenario": "cut_in", "seed": "7"})
    nodes = {n.name: n for n in desc.nodes}
    assert list(nodes) == ["sim", "can_bridge", "adas", "safety"]
    assert nodes["sim"].required and not any(n.required for n in desc.nodes[1:])
    share = ROS_SRC / "edgepilot_nodes"
    for node in desc.nodes:   # its own config file first, so launch-file params override it
        assert node.params[0] == share / "config" / f"{node.name}.yaml"
        assert node.params[1].get("use_sim_time", "true") == "true"
    sim = nodes["sim"].params[1]
    assert (sim["scenario"], sim["seed"], sim["out_dir"], sim["can_bus"]) == ("cut_in", "7", "out",
                                                                              "udp_multicast:default")
    assert nodes["can_bridge"].params[1]["can_bus"] == "udp_multicast:default"
    assert nodes["adas"].params[1]["driver"] == "classical"
    cmd = L.default_command(nodes["sim"])
    assert cmd[:6] == [sys.executable, "-m", "edgepilot.ros.run_node", "edgepilot_nodes", "sim_node", "--ros-args"]
    assert cmd[6:10] == ["-r", "__node:=sim", "--params-file", str(share / "config" / "sim.yaml")]
    assert "-p" in cmd and "scenario:=cut_in" in cmd and "seed:=7" in cmd
    rates = {n: yaml.safe_load((share / "config" / f"{n}.yaml").read_text())[n]["ros__parameters"].get("rate_hz")
             for n in nodes}
    # the simulator steps at its scenario's dt_s; the other nodes run at fixed rates
    assert rates == {"sim": None, "can_bridge": 100, "adas": 50, "safety": 100}


@pytest.mark.parametrize("path", PACKAGE_XMLS, ids=lambda p: p.parent.name)
def test_package_xml_is_format_3(path):
    root = ET.parse(path).getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == path.parent.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", root.findtext("version") or "")
    assert (root.findtext("description") or "").strip()
    maintainer = root.find("maintainer")
    assert maintainer is not None and maintainer.get("email") and maintainer.text.strip()
    assert (root.findtext("license") or "").strip()
    assert root.findall("buildtool_depend")
    assert root.find("export/build_type") is not None
    allowed = {"name", "version", "description", "maintainer", "license", "url", "author", "buildtool_depend",
               "build_depend", "build_export_depend", "exec_depend", "depend", "test_depend", "doc_depend",
               "buildtool_export_depend", "member_of_group", "group_depend", "conflict", "replace", "export"}
    assert not {c.tag for c in root} - allowed


def test_interfaces_package_generates_every_msg():
    pkg = ROS_SRC / "edgepilot_interfaces"
    root = ET.parse(pkg / "package.xml").getroot()
    assert "rosidl_default_generators" in [e.text for e in root.findall("buildtool_depend")]
    assert root.findtext("member_of_group") == "rosidl_interface_packages"
    deps = {e.text for e in root.findall("depend")}
    assert {"std_msgs", "geometry_msgs", "builtin_interfaces"} <= deps
    cmake = (pkg / "CMakeLists.txt").read_text()
    listed = set(re.findall(r'"(msg/\w+\.msg)"', cmake))
    assert listed == {f"msg/{p.name}" for p in (pkg / "msg").glob("*.msg")}
    used = {m.group(1) for p in (pkg / "msg").glob("*.msg")
            for m in re.finditer(r"^\s*(\w+)/\w+", p.read_text(), re.M)}
    assert used <= deps, f"msg files use packages missing from package.xml: {used - deps}"


def test_nodes_package_layout():
    pkg = ROS_SRC / "edgepilot_nodes"
    root = ET.parse(pkg / "package.xml").getroot()
    assert [e.text for e in root.findall("buildtool_depend")] == ["ament_python"]
    assert {"rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "nav_msgs", "rosgraph_msgs",
            "edgepilot_interfaces", "launch_ros", "launch_xml"} <= {e.text for e in root.findall("exec_depend")}
    assert (pkg / "resource" / "edgepilot_nodes").is_file()
    assert (pkg / "edgepilot_nodes" / "__init__.py").is_file()
    cfg = (pkg / "setup.cfg").read_text()
    assert "script_dir=$base/lib/edgepilot_nodes" in cfg and "install_scripts=$base/lib/edgepilot_nodes" in cfg
    setup = (pkg / "setup.py").read_text()
    for exe in ("sim_node", "can_bridge_node", "adas_node", "safety_node"):
        assert f'"{exe} = edgepilot_nodes.{exe}:main"' in setup
    for pattern in ('"launch/*.launch.xml"', '"config/*.yaml"', '"resource/" + package_name', '"package.xml"'):
        assert pattern in setup


def test_vehicle_stack_runs_the_car_without_the_simulator():
    """vehicle_stack.launch.xml: SocketCAN, wall-clock time, perception on the drivers' cameras, the fallback AEB on
    the car's own object list; cockpit and recorder only when asked."""
    path = ROS_SRC / "edgepilot_nodes" / "launch" / "vehicle_stack.launch.xml"
    desc = parse_launch_file(path)
    nodes = {n.name: n for n in desc.nodes}
    assert list(nodes) == ["can_bridge", "perception", "adas", "safety"]
    share = ROS_SRC / "edgepilot_nodes"
    for node in desc.nodes:
        assert node.params[0] == share / "config" / f"{node.name}.yaml"
        assert node.params[1]["use_sim_time"] == "false"
    assert nodes["can_bridge"].params[1]["can_bus"] == "socketcan:can0"
    adas = nodes["adas"]
    assert adas.params[1]["driver"] == "e2e" and adas.params[1]["e2e_fallback_aeb"] == "true"
    assert dict(adas.remaps) == {"/perception/objects": "/sensing/radar/objects",
                                 "/perception/lanes": "/sensing/camera/lanes"}
    full = parse_launch_file(path, {"cockpit": "true", "record": "true", "can_bus": "socketcan:can1",
                                    "use_sim_time": "true"})
    names = [n.name for n in full.nodes]
    assert names == ["can_bridge", "perception", "adas", "safety", "cockpit", "recorder"]
    assert all(n.params[1]["can_bus"] == "socketcan:can1" for n in full.nodes if "can_bus" in n.params[1])
    assert {n.params[1].get("use_sim_time") for n in full.nodes if n.name != "recorder"} == {"true"}


def test_interrupt_process_group_asks_first_then_kills():
    # the polite child installs Python's SIGINT handler itself: a test run started where SIGINT is ignored (nohup,
    # a background job) would otherwise pass the ignored disposition on to it
    polite = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                               "signal.signal(signal.SIGINT, signal.default_int_handler)\ntry:\n"
                               "    print('ready', flush=True)\n    time.sleep(30)\n"
                               "except KeyboardInterrupt:\n    raise SystemExit(3)"],
                              start_new_session=True, stdout=subprocess.PIPE, text=True)
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time\n"
                                 "signal.signal(signal.SIGINT, signal.SIG_IGN)\nprint('ready', flush=True)\n"
                                 "time.sleep(30)"], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert polite.stdout.readline().strip() == "ready" and stubborn.stdout.readline().strip() == "ready"
    assert L.interrupt_process_group(polite) == 3                                 # SIGINT handled: clean exit
    assert L.interrupt_process_group(stubborn, grace_s=0.5) == -signal.SIGKILL    # SIGINT ignored: killed
    assert L.interrupt_process_group(polite) == 3                                 # already gone: no error
