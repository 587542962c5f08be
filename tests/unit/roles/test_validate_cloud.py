"""roles/validate/files/validate_cloud.py: the parts that need no cloud (results,
skips, the table, leftovers by prefix, the provider pool, what the guest prints),
the whole run against an in-memory fake of the openstacksdk calls it makes, and
the dashboard check against a fake Horizon in headless Chromium (when installed)."""

import functools
import http.server
import itertools
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.parse
from types import SimpleNamespace

import pytest

from fixtures import _load

vc = _load("validate_cloud", "roles/validate/files/validate_cloud.py")

PASSWORD = "s3cret-Pw0rd"


# --- results, skips, the table ---------------------------------------------------


def test_run_records_pass_fail_and_errors():
    results = vc.Results()
    results.run("a", lambda: "fine")
    results.run("b", lambda: (_ for _ in ()).throw(vc.CheckFailed("no good")))
    results.run("c", lambda: {}["missing"])
    assert [(c["name"], c["ok"], c["detail"]) for c in results.checks] == [
        ("a", True, "fine"), ("b", False, "no good"), ("c", False, "KeyError: 'missing'")]
    assert all(isinstance(c["seconds"], float) for c in results.checks)


def test_dependents_are_skipped_with_the_reason():
    results = vc.Results()
    results.run("token", lambda: "ok")
    results.run("image", lambda: 1 / 0)
    results.run("flavor", lambda: "ok", enabled=False, why_disabled="disabled (flavor is false)")
    results.run("server", lambda: "booted", needs=("token", "image", "flavor", "network"))
    server = results.get("server")
    assert server["ok"] is None
    assert server["detail"] == "skipped: needs image (failed), flavor (skipped), network (not run)"
    assert results.get("flavor")["detail"] == "skipped: disabled (flavor is false)"
    ran = []
    results.run("leftovers", lambda: ran.append(1) or "none", needs=("token",))
    assert ran == [1] and results.passed("leftovers")


def test_summary_fails_only_on_failures():
    results = vc.Results()
    results.run("a", lambda: "ok")
    results.skip("b", "disabled")
    summary = results.summary()
    assert (summary["ok"], summary["failed"], summary["passed"], summary["skipped"]) == (True, [], 1, 1)
    results.run("c", lambda: 1 / 0)
    results.run("d", lambda: "x", needs=("c",))
    summary = results.summary()
    assert (summary["ok"], summary["failed"], summary["skipped"]) == (False, ["c"], 2)
    assert json.loads(json.dumps(summary)) == summary


def test_secrets_are_redacted_everywhere():
    results = vc.Results(secrets=[PASSWORD, None, ""])
    results.run("dashboard", lambda: (_ for _ in ()).throw(vc.CheckFailed("typed %s into it" % PASSWORD)))
    summary = results.summary()
    assert PASSWORD not in json.dumps(summary)
    assert summary["checks"][0]["detail"] == "typed *** into it"


def test_table():
    checks = [
        {"name": "token", "ok": True, "seconds": 0.43, "detail": "token for admin"},
        {"name": "compute_services", "ok": False, "seconds": 120.0, "detail": "no nova-compute\non cmp0"},
        {"name": "server", "ok": None, "seconds": 0.0, "detail": "skipped: needs image (failed)"},
        {"name": "dashboard", "ok": True, "seconds": 12.25, "detail": "x" * 500},
    ]
    lines = vc.format_table(checks)
    assert lines[0].split() == ["check", "result", "seconds", "detail"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2] == "token             PASS        0.4  token for admin"
    assert lines[3] == "compute_services  FAIL      120.0  no nova-compute on cmp0"
    assert lines[4] == "server            SKIP        0.0  skipped: needs image (failed)"
    assert lines[5].endswith("x...") and len(lines[5].split("  ")[-1]) == vc.DETAIL_WIDTH
    # every column starts at the same place on every line
    starts = {line.index(word) for line, word in zip(lines[2:], ["PASS", "FAIL", "SKIP", "PASS"])}
    assert len(starts) == 1


def test_table_of_a_results_file(tmp_path, capsys):
    results = vc.Results()
    results.run("token", lambda: "ok")
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results.summary()))
    assert vc.main(["--table", str(path)]) == 0
    assert "token  PASS" in capsys.readouterr().out


# --- leftovers by prefix ---------------------------------------------------------


@pytest.mark.parametrize("name,ours", [
    ("sw-validate", True), ("sw-validate-server", True), ("sw-validate-external-subnet", True),
    ("sw-validatex", False), ("sw-validat", False), ("my-sw-validate-server", False), ("", False), (None, False),
])
def test_is_ours(name, ours):
    assert vc.is_ours(name, "sw-validate") is ours


def test_leftovers_by_name_and_project():
    res = [SimpleNamespace(name="sw-validate-net", project_id="p1"),
           SimpleNamespace(name="sw-validate-net", project_id="p2"),
           SimpleNamespace(name="public", project_id="p1"),
           SimpleNamespace(name="sw-validate-flavor"),
           SimpleNamespace(name="sw-validate-disk", owner="p1", project_id=None)]
    assert vc.leftovers(res, "sw-validate") == [res[0], res[1], res[3], res[4]]
    assert vc.leftovers(res, "sw-validate", "p1") == [res[0], res[3], res[4]]
    # images name their project "owner"; what has no project at all (flavors) goes by its name alone
    assert vc.leftovers(res, "sw-validate", "p2", owner_attr="owner") == [res[0], res[1], res[3]]


@pytest.mark.parametrize("prefix", ["", "sw", "-x-", "a b", "sw/validate", "*"])
def test_a_dangerous_prefix_is_refused(prefix):
    with pytest.raises(vc.ConfigError, match="prefix"):
        vc.load_config({"clouds_yaml": "/x", "prefix": prefix, "boot_server": False})


# --- configuration ---------------------------------------------------------------


def test_config_defaults_and_checks():
    config = vc.load_config({"clouds_yaml": "/c.yaml", "boot_server": False, "timeouts": {"server": 60},
                             "external": {"cidr": "10.0.0.0/24", "pool": None}})
    assert config["timeouts"]["server"] == 60 and config["timeouts"]["http"] == 10
    assert config["external"]["physical_network"] == "physnet1" and config["external"]["cidr"] == "10.0.0.0/24"
    with pytest.raises(vc.ConfigError, match="guest: kernel, ramdisk, cmdline"):
        vc.load_config({"clouds_yaml": "/c.yaml"})
    with pytest.raises(vc.ConfigError, match="timeouts.server"):
        vc.load_config({"clouds_yaml": "/c.yaml", "boot_server": False, "timeouts": {"server": 0}})
    with pytest.raises(vc.ConfigError, match="clouds_yaml"):
        vc.load_config({})


@pytest.mark.parametrize("field, value, message", [
    ("stack_network", {"cidr": ""}, "stack_network.cidr: '' is not a network (CIDR)"),
    ("stack_network", {"cidr": "10.198.0.0/33"}, "stack_network.cidr: '10.198.0.0/33' is not a network (CIDR)"),
    ("stack_network", {"cidr": "10.198.0.1/24"}, "stack_network.cidr: '10.198.0.1/24' is not a network (CIDR)"),
    ("timeouts", {"stack": 0}, "timeouts.stack: 0 is not a positive number"),
])
def test_bad_stack_settings_are_refused_naming_the_field(field, value, message):
    with pytest.raises(vc.ConfigError) as raised:
        vc.load_config({"clouds_yaml": "/c.yaml", "boot_server": False, field: value})
    assert str(raised.value) == message


def test_bad_config_exits_2(tmp_path, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"clouds_yaml": str(tmp_path / "missing.yaml"), "boot_server": False}))
    assert vc.main(["--config", str(cfg), "--results", str(tmp_path / "r.json")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_free_pool():
    # the lab's external network: gateway .1, nodes .10-.49
    assert vc.free_pool("10.0.0.0/24", "10.0.0.1", [{"start": "10.0.0.10", "end": "10.0.0.49"}]) == (
        "10.0.0.50", "10.0.0.254")
    assert vc.free_pool("10.0.0.0/24", "10.0.0.254", [["10.0.0.100", "10.0.0.253"]]) == ("10.0.0.1", "10.0.0.99")
    assert vc.free_pool("192.168.0.0/29") == ("192.168.0.1", "192.168.0.6")
    assert vc.free_pool("192.168.0.0/29", "192.168.0.1", [["192.168.0.2", "192.168.0.3"]]) == (
        "192.168.0.4", "192.168.0.6")
    with pytest.raises(ValueError):
        vc.free_pool("192.168.0.0/30", "192.168.0.1", [["192.168.0.2", "192.168.0.2"]])


def test_dashboard_url():
    entry = {"auth": {"auth_url": "http://192.168.24.50:5000/v3"}}
    assert vc.dashboard_url(entry) == "http://192.168.24.50/horizon/"
    assert vc.dashboard_url({"auth": {"auth_url": "http://[fd00::5]:5000/v3"}}) == "http://[fd00::5]/horizon/"
    assert vc.dashboard_url(entry, "https://cloud.example/dashboard") == "https://cloud.example/dashboard/"


# --- what the guest prints -------------------------------------------------------


def test_guest_console():
    console = ("[    0.000000] Linux version 6.12.48+deb13-amd64\r\n"
               "stackwright-guest: booted kernel 6.12.48+deb13-amd64\r\n"
               "stackwright-guest: disks vda\r\n")
    assert vc.guest_booted(console) == (True, "6.12.48+deb13-amd64")
    assert vc.guest_booted("stackwright-guest: booted\n") == (True, None)
    assert vc.guest_booted("Booting...\n") == (False, None)
    assert vc.guest_disks(console) == ["vda"]
    assert vc.guest_disks(console + "stackwright-guest: disks vda vdb\n") == ["vda", "vdb"]
    assert vc.guest_disks(console + "stackwright-guest: disks\n") == []
    assert vc.guest_disks("nothing yet") is None
    assert vc.guest_address(console) is None
    assert vc.guest_address(console + "stackwright-guest: eth0 10.199.0.23/24\n") == "10.199.0.23/24"


# --- the whole run against a fake cloud -------------------------------------------


class R(SimpleNamespace):
    """A resource: attributes, and dict-style get like openstacksdk's."""

    def get(self, key, default=None):
        return getattr(self, key, default)


class FakeCloud:
    """The openstacksdk calls validate_cloud.py makes, on an in-memory cloud."""

    def __init__(self, catalog, project="p-admin"):
        self.current_project_id = project
        self.ids = itertools.count(1)
        self.catalog = catalog
        self.store = {k: [] for k in ("servers", "volumes", "snapshots", "backups", "routers", "networks", "subnets", "ports",
                                      "security_groups", "flavors", "images", "image_data", "rules")}
        self.store["image_data"] = {}
        self.console = ""
        self.console_token = "good-token"
        self.deleted = []
        self.session = SimpleNamespace(auth=SimpleNamespace(get_access=lambda s: SimpleNamespace(
            service_catalog=SimpleNamespace(catalog=self.catalog))))
        self.compute = SimpleNamespace(
            services=lambda: [R(binary="nova-compute", host="oc-cmp0.example", state="up", status="enabled"),
                              R(binary="nova-scheduler", host="oc-ctl0", state="up", status="enabled"),
                              R(binary="nova-conductor", host="oc-old", state="down", status="disabled")],
            servers=lambda: self._of("servers", project=True),
            flavors=lambda: list(self.store["flavors"]),
            create_flavor=lambda **a: self._add("flavors", R(**a)),
            delete_flavor=lambda r: self._del("flavors", r),
            create_server=self._create_server,
            wait_for_server=lambda s, **a: R(**dict(vars(s), status="ACTIVE")),
            get_server=lambda i: self._find("servers", i),
            get_server_console_output=lambda s: {"output": self.console},
            create_server_remote_console=self._remote_console,
            create_volume_attachment=self._attach,
            delete_server=self._delete_server,
            wait_for_delete=lambda r, **a: r,
        )
        self.network = SimpleNamespace(
            agents=lambda: [R(agent_type=t, host=h, is_alive=True, is_admin_state_up=True)
                            for t, h in [("OVN Controller Gateway agent", "oc-cmp0"),
                                         ("OVN Metadata agent", "oc-cmp0")]],
            networks=self._networks,
            create_network=lambda **a: self._add("networks", R(subnet_ids=[], provider_segmentation_id=42, **a),
                                                 project=True),
            get_network=lambda i: self._find("networks", i),
            create_subnet=self._create_subnet,
            create_router=lambda **a: self._add("routers", R(**a), project=True),
            add_interface_to_router=self._add_interface,
            get_router=self._get_router,
            routers=lambda project_id=None: self._of("routers", project=True),
            ports=self._ports,
            remove_interface_from_router=lambda r, port_id: self._del("ports", self._find("ports", port_id)),
            delete_router=lambda r: self._del("routers", r),
            delete_port=lambda r: self._del("ports", r),
            delete_network=self._delete_network,
            create_security_group=lambda **a: self._add("security_groups", R(**a), project=True),
            create_security_group_rule=lambda **a: self.store["rules"].append(a),
            security_groups=lambda project_id=None: self._of("security_groups", project=True),
            delete_security_group=lambda r: self._del("security_groups", r),
        )
        self.image = SimpleNamespace(
            create_image=self._create_image,
            get_image=lambda i: self._find("images", i),
            download_image=lambda i: SimpleNamespace(content=self.store["image_data"][i.id]),
            images=lambda owner=None: [i for i in self.store["images"] if i.owner == owner],
            delete_image=lambda r: self._del("images", r),
        )
        self.block_storage = SimpleNamespace(
            volumes=lambda: self._of("volumes", project=True),
            create_volume=lambda **a: self._add("volumes", R(status="available", **a), project=True),
            wait_for_status=lambda v, status, **a: self._volume_status(v, status),
            delete_volume=self._delete_volume,
            snapshots=lambda: self._of("snapshots", project=True),
            services=lambda: [R(binary="cinder-scheduler"), R(binary="cinder-volume"), R(binary="cinder-backup")],
            backups=lambda: self._of("backups", project=True),
            create_backup=self._create_backup,
            restore_backup=self._restore_backup,
            find_volume=lambda ident: next((v for v in self.store["volumes"] if ident in (v.id, v.name)), None),
            delete_backup=lambda r: self._del("backups", r),
            create_snapshot=self._create_snapshot,
            delete_snapshot=self._delete_snapshot,
            get_volume=lambda i: self._find("volumes", i),
            wait_for_delete=lambda r, **a: r,
        )

    def authorize(self):
        return "token"

    # storage
    def _add(self, kind, res, project=False):
        res.id = "%s-%d" % (kind, next(self.ids))
        if project and not hasattr(res, "project_id"):
            res.project_id = self.current_project_id
        self.store[kind].append(res)
        return res

    def _find(self, kind, ident):
        return next(r for r in self.store[kind] if r.id == ident)

    def _of(self, kind, project=False):
        return [r for r in self.store[kind] if not project or r.project_id == self.current_project_id]

    def _del(self, kind, res):
        self.store[kind].remove(self._find(kind, res.id))
        self.deleted.append("%s %s" % (kind, res.name))

    # behaviours
    def _networks(self, project_id=None, is_router_external=None):
        nets = self.store["networks"]
        if project_id:
            nets = [n for n in nets if n.project_id == project_id]
        if is_router_external is not None:
            nets = [n for n in nets if getattr(n, "is_router_external", False) == is_router_external]
        return nets

    def _create_subnet(self, **attrs):
        subnet = self._add("subnets", R(**attrs))
        self._find("networks", attrs["network_id"]).subnet_ids.append(subnet.id)
        return subnet

    def _delete_network(self, net):
        if any(p.network_id == net.id for p in self.store["ports"]):
            raise RuntimeError("network %s has ports" % net.name)
        self._del("networks", net)

    def _ports(self, device_id=None, network_id=None):
        return [p for p in self.store["ports"]
                if (device_id is None or p.device_id == device_id) and (network_id is None or p.network_id == network_id)]

    def _add_interface(self, router, subnet_id):
        subnet = self._find("subnets", subnet_id)
        self._add("ports", R(name="", device_id=router.id, network_id=subnet.network_id, status="ACTIVE",
                             device_owner="network:router_interface"))

    def _get_router(self, ident):
        router = self._find("routers", ident)
        return R(**dict(vars(router), external_gateway_info=dict(
            router.external_gateway_info, external_fixed_ips=[{"ip_address": "10.0.0.50"}])))

    def _create_image(self, name, filename, disk_format, container_format, **kwargs):
        with open(filename, "rb") as fh:
            data = fh.read()
        image = self._add("images", R(name=name, disk_format=disk_format, container_format=container_format,
                                      status="active", owner=self.current_project_id,
                                      properties={k: v for k, v in kwargs.items()
                                                  if k in ("kernel_id", "ramdisk_id", "os_command_line")}))
        self.store["image_data"][image.id] = data
        return image

    def _create_server(self, **attrs):
        server = self._add("servers", R(compute_host="oc-cmp0", hypervisor_hostname="oc-cmp0", fault=None, **attrs),
                           project=True)
        server.id = "5e7a0000-0000-4000-8000-%012d" % next(self.ids)  # Nova's ids are UUIDs
        self._add("ports", R(name="", device_id=server.id, network_id=attrs["networks"][0]["uuid"], status="ACTIVE",
                             device_owner="compute:nova", fixed_ips=[{"ip_address": "10.199.0.23"}]))
        self.console = ("stackwright-guest: booted kernel 6.12.0-test\nstackwright-guest: disks vda\n"
                        "stackwright-guest: eth0 10.199.0.23/24\nstackwright-guest: metadata uuid %s\n" % server.id)
        return server

    def _remote_console(self, server, protocol, type):
        assert (protocol, type) == ("vnc", "novnc")
        base = self.catalog[0]["endpoints"][0]["url"].split("/status/")[0]
        return R(url=base + "/vnc_lite.html?path=%3Ftoken%3D" + self.console_token)

    def _create_snapshot(self, volume_id, **a):
        volume = self._find("volumes", volume_id)
        # Cinder refuses to snapshot an attached volume unless forced
        assert volume.status == "available" or a.get("is_forced"), volume.status
        return self._add("snapshots", R(status="available", volume_id=volume_id, **a), project=True)

    def _create_backup(self, volume_id, **a):
        volume = self._find("volumes", volume_id)
        assert volume.status == "available" or a.get("force"), volume.status
        return self._add("backups", R(status="available", volume_id=volume_id, size=volume.size, **a), project=True)

    def _restore_backup(self, backup, name):
        backup = self._find("backups", backup.id)
        volume = self._add("volumes", R(name=name, status="available", size=backup.size), project=True)
        # what Cinder answers: the backup's id and the new volume's
        return R(id=backup.id, volume_id=volume.id, volume_name=name)

    def _delete_volume(self, volume):
        assert not any(s.volume_id == volume.id for s in self.store["snapshots"]), "it has snapshots"
        self._del("volumes", volume)

    def _delete_snapshot(self, snap):
        # Cinder deletes a snapshot only once it is made (or failed)
        assert self._find("snapshots", snap.id).status in ("available", "error"), snap.status
        self._del("snapshots", snap)

    def _attach(self, server, volume):
        self._find("volumes", volume).status = "in-use"
        self.console += "stackwright-guest: disks vda vdb\n"

    def _delete_server(self, server):
        self._del("servers", server)
        # nova detaches its volumes and deletes its ports
        for volume in self.store["volumes"]:
            volume.status = "available"
        self.store["ports"] = [p for p in self.store["ports"] if p.device_id != server.id]

    def _volume_status(self, volume, status):
        volume = self._find(volume.id.split("-")[0], volume.id)
        if volume.status == "creating":  # made while waited for
            volume.status = status
        assert volume.status == status, (volume.status, status)
        return volume


class Handler(http.server.BaseHTTPRequestHandler):
    """Endpoints for the catalog check (a path's first part picks the status) and a
    small Horizon: a login form, a session cookie, the admin instance list."""

    servers = []

    def log_message(self, *args):
        pass

    def _send(self, status, body="", headers=()):
        data = body.encode()
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _login_page(self, error=""):
        alert = '<div class="alert alert-danger">%s</div>' % error if error else ""
        return ("<html><head><title>Login - OpenStack Dashboard</title></head><body>%s"
                '<form method="POST" action="/horizon/auth/login/">'
                '<input type="text" name="username" id="id_username">'
                '<input type="password" name="password" id="id_password">'
                '<button id="loginBtn" type="submit">Sign In</button></form></body></html>' % alert)

    def _websocket(self, query):
        """nova-novncproxy: the token checked, then the guest's VNC greeting in a binary frame."""
        if query.get("token") != ["good-token"] or self.headers.get("Upgrade") != "websocket":
            self._send(403, "invalid token")
            return
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Protocol: binary\r\n\r\n" + (b"\x82\x0cRFB 003.008\n" if self.vnc_greets else b""))
        self.close_connection = True

    vnc_greets = True

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        logged_in = "session=ok" in (self.headers.get("Cookie") or "")
        if path == "/vnc_lite.html":
            self._send(200, "<html><head><title>noVNC</title></head></html>")
        elif path == "/websockify":
            self._websocket(urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query))
        elif path.startswith("/status/"):
            self._send(int(path.split("/")[2]), "{}")
        elif path == "/horizon/":
            self._send(302, headers=[("Location", "/horizon/project/" if logged_in else "/horizon/auth/login/")])
        elif path == "/horizon/auth/login/":
            self._send(200, self._login_page())
        elif path == "/horizon/project/" and logged_in:
            self._send(200, "<html><title>Overview</title><body>Overview</body></html>")
        elif path == "/horizon/admin/instances/" and logged_in:
            rows = "".join("<tr><td>%s</td></tr>" % name for name in self.servers) or \
                "<tr><td>No items to display.</td></tr>"
            self._send(200, '<html><title>Instances</title><body><table id="instances">%s</table></body></html>' % rows)
        elif logged_in:
            self._send(404, "not found")
        else:
            self._send(302, headers=[("Location", "/horizon/auth/login/?next=" + path)])

    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        if form.get("username") == ["admin"] and form.get("password") == [PASSWORD]:
            self._send(302, headers=[("Location", "/horizon/"), ("Set-Cookie", "session=ok; Path=/")])
        else:
            self._send(200, self._login_page("Invalid credentials."))


@pytest.fixture
def web():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.servers = []
    server.url = "http://127.0.0.1:%d" % server.server_port
    yield server
    server.shutdown()
    server.server_close()


def clouds_yaml(tmp_path, auth_url="http://192.0.2.10:5000/v3"):
    path = tmp_path / "clouds.yaml"
    path.write_text(json.dumps({"clouds": {"stackwright": {"auth": {
        "auth_url": auth_url, "username": "admin", "password": PASSWORD, "project_name": "admin",
        "user_domain_name": "Default", "project_domain_name": "Default"}}}}))
    return str(path)


def catalog(base, statuses):
    return [{"type": "svc%d" % i, "name": "svc%d" % i,
             "endpoints": [{"interface": iface, "url": "%s/status/%d/%s" % (base, status, iface)}
                           for iface in ("public", "internal")]}
            for i, status in enumerate(statuses)]


def run_fake(monkeypatch, tmp_path, cloud, **config):
    monkeypatch.setattr(vc.Validator, "make_connection", lambda self: cloud)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    guest = {}
    for name in ("kernel", "ramdisk", "cmdline"):
        (work / name).write_text("console=ttyS0 quiet\n" if name == "cmdline" else name)
        guest[name] = str(work / name)
    settings = dict(clouds_yaml=clouds_yaml(tmp_path), work_dir=str(work), compute_hosts=["oc-cmp0"],
                    chassis_hosts=["oc-cmp0"], guest=guest,
                    dashboard=False, external={"cidr": "10.0.0.0/24", "gateway": "10.0.0.1",
                                               "exclude": [{"start": "10.0.0.10", "end": "10.0.0.49"}]},
                    timeouts={"services": 1})
    settings.update(config)
    return vc.run(vc.load_config(settings))


def by_name(summary):
    return {c["name"]: c for c in summary["checks"]}


def test_fake_cloud_container_scenario(monkeypatch, tmp_path, web):
    """No server, no volume: a raw image round trip, the networks, the router,
    leftovers of an earlier run deleted first, the operator's resources untouched."""
    cloud = FakeCloud(catalog(web.url, [200, 401, 300]))
    operator_net = cloud._add("networks", R(name="public-net", subnet_ids=[], project_id="p-admin"))
    cloud._add("flavors", R(name="m1.small"))
    cloud._add("networks", R(name="sw-validate-net", subnet_ids=[], project_id="p-other"))  # another project's
    cloud._add("flavors", R(name="sw-validate-flavor"))  # an interrupted run's
    cloud._add("security_groups", R(name="sw-validate-sg"), project=True)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert [c["name"] for c in summary["checks"]] == vc.CHECKS
    assert checks["leftovers"]["detail"] == "deleted security group sw-validate-sg, flavor sw-validate-flavor"
    assert checks["catalog"]["detail"] == "6 endpoints (6 URLs) answer"
    assert checks["compute_services"]["detail"].startswith("nova-compute up on oc-cmp0.example")
    assert "1 OVN Controller Gateway agent" in checks["network_agents"]["detail"]
    assert checks["image"]["detail"] == "sw-validate-raw active, 1048576 bytes stored and read back"
    assert "pool 10.0.0.50-10.0.0.254, gateway 10.0.0.1" in checks["external_network"]["detail"]
    assert checks["router"]["detail"].startswith("sw-validate-router: gateway 10.0.0.50")
    assert [checks[n]["ok"] for n in ("server", "volume", "dashboard")] == [None, None, None]
    assert checks["cleanup"]["detail"] == (
        "deleted router sw-validate-router, network sw-validate-net, network sw-validate-external, "
        "security group sw-validate-sg, flavor sw-validate-flavor, image sw-validate-raw")
    # only the operator's things and the other project's network are left
    assert [n.name for n in cloud.store["networks"]] == ["public-net", "sw-validate-net"]
    assert operator_net in cloud.store["networks"]
    assert [f.name for f in cloud.store["flavors"]] == ["m1.small"]
    assert not cloud.store["images"] and not cloud.store["routers"] and not cloud.store["security_groups"]
    assert PASSWORD not in json.dumps(summary)


def test_read_only_run_reads_and_changes_nothing(monkeypatch, tmp_path, web):
    """An overcloud status: token, endpoints, services and agents are checked; an
    earlier run's leftovers stay, nothing is created or deleted."""
    cloud = FakeCloud(catalog(web.url, [200]))
    cloud._add("flavors", R(name="sw-validate-flavor"))  # an interrupted run's: a status leaves it
    before = {kind: list(items) for kind, items in cloud.store.items()}
    summary = run_fake(monkeypatch, tmp_path, cloud, read_only=True)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert [n for n in vc.CHECKS if checks[n]["ok"] is True] == list(vc.READ_ONLY_CHECKS)
    assert checks["image"]["detail"] == checks["cleanup"]["detail"] == "skipped: read-only run"
    assert {kind: list(items) for kind, items in cloud.store.items()} == before


def test_fake_cloud_boots_attaches_and_cleans_up(monkeypatch, tmp_path, web):
    cloud = FakeCloud(catalog(web.url, [200]))
    summary = run_fake(monkeypatch, tmp_path, cloud)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert checks["image"]["detail"] == ("sw-validate-disk (kernel sw-validate-kernel, ramdisk sw-validate-ramdisk) "
                                         "active; command line 'console=ttyS0 quiet'")
    assert "ACTIVE on oc-cmp0" in checks["server"]["detail"]
    assert "guest booted kernel 6.12.0-test" in checks["server"]["detail"]
    assert checks["server"]["detail"].endswith("guest booted kernel 6.12.0-test after 0s")
    assert checks["guest_network"]["detail"] == "eth0 10.199.0.23/24 by DHCP; the metadata service gave the server's id"
    assert checks["console"]["ok"] and checks["console"]["detail"].endswith(
        "noVNC's page, then the guest's VNC server through the proxy (RFB 003.008)")
    assert checks["volume"]["detail"].endswith("the guest sees disks vda vdb")
    # the attached volume's snapshot (forced), a volume from it, both deleted by the check
    assert checks["snapshot"]["detail"] == ("sw-validate-snapshot available after 0s, sw-validate-restored made from "
                                            "it available after 0s; both deleted")
    # the attached volume's backup (forced), restored into a new volume, both deleted
    assert checks["backup"]["detail"] == ("sw-validate-backup available after 0s, restored into "
                                          "sw-validate-from-backup after 0s; both deleted")
    # the server first (its port holds the network), the AMI before its kernel and ramdisk
    assert cloud.deleted[:6] == ["volumes sw-validate-restored", "snapshots sw-validate-snapshot",
                                 "volumes sw-validate-from-backup", "backups sw-validate-backup",
                                 "servers sw-validate-server", "volumes sw-validate-volume"]
    images = [d for d in cloud.deleted if d.startswith("images")]
    assert images[0] == "images sw-validate-disk"
    assert not any(cloud.store[k] for k in ("servers", "volumes", "routers", "networks", "images", "flavors"))


def test_fake_cloud_failures_skip_dependents_and_still_clean_up(monkeypatch, tmp_path, web):
    cloud = FakeCloud(catalog(web.url, [200, 503]))
    cloud.compute.create_flavor = lambda **a: (_ for _ in ()).throw(RuntimeError("quota"))
    summary = run_fake(monkeypatch, tmp_path, cloud, volume=False)
    checks = by_name(summary)
    assert summary["failed"] == ["catalog", "flavor"]
    assert "2 of 4 endpoints fail" in checks["catalog"]["detail"] and "HTTP 503" in checks["catalog"]["detail"]
    assert checks["flavor"]["detail"] == "RuntimeError: quota"
    assert checks["server"]["detail"] == "skipped: needs flavor (failed)"
    assert checks["cleanup"]["ok"] is True
    assert not any(cloud.store[k] for k in ("servers", "routers", "networks", "images"))


def test_snapshot_left_by_an_interrupted_run_goes_before_its_volume(monkeypatch, tmp_path, web):
    """A run stopped in the backup check leaves a volume, its snapshot (still being
    made) and its backup: Cinder keeps a volume that has snapshots and deletes a
    snapshot only once made, so the next run's cleanup waits for it, then deletes it
    before the volume."""
    cloud = FakeCloud(catalog(web.url, [200]))
    volume = cloud._add("volumes", R(name="sw-validate-volume", status="available", size=1), project=True)
    cloud._create_snapshot(volume.id, name="sw-validate-snapshot").status = "creating"
    cloud._create_backup(volume.id, name="sw-validate-backup")
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert checks["leftovers"]["detail"] == ("deleted backup sw-validate-backup, snapshot sw-validate-snapshot, "
                                             "volume sw-validate-volume")
    assert checks["snapshot"]["detail"].endswith("; both deleted")
    assert not cloud.store["snapshots"] and not cloud.store["volumes"] and not cloud.store["backups"]


def test_backup_skipped_where_no_cinder_backup_runs(monkeypatch, tmp_path, web):
    cloud = FakeCloud(catalog(web.url, [200]))
    cloud.block_storage.services = lambda: [R(binary="cinder-scheduler"), R(binary="cinder-volume")]
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert checks["backup"]["ok"] is None
    assert "no cinder-backup in the cloud (cinder_backup is in no server role)" in checks["backup"]["detail"]
    assert not cloud.store["backups"] and not cloud.store["volumes"]


def test_fake_cloud_down_compute_and_a_failed_cleanup(monkeypatch, tmp_path, web):
    cloud = FakeCloud(catalog(web.url, [200]))
    cloud.compute.services = lambda: [R(binary="nova-compute", host="oc-cmp1", state="down", status="enabled")]
    cloud.image.delete_image = lambda r: (_ for _ in ()).throw(RuntimeError("image in use"))
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert checks["compute_services"]["detail"] == "no nova-compute on oc-cmp0; nova-compute on oc-cmp1 is down"
    assert checks["cleanup"]["ok"] is False
    assert "image sw-validate-raw: RuntimeError: image in use" in checks["cleanup"]["detail"]
    assert "still there: image sw-validate-raw" in checks["cleanup"]["detail"]
    # what could go, went
    assert not cloud.store["networks"] and not cloud.store["flavors"]


def test_results_file_and_exit_status(monkeypatch, tmp_path, web, capsys):
    cloud = FakeCloud(catalog(web.url, [200]))
    monkeypatch.setattr(vc.Validator, "make_connection", lambda self: cloud)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"clouds_yaml": clouds_yaml(tmp_path), "boot_server": False, "volume": False,
                               "dashboard": False, "external": {"cidr": "10.0.0.0/24"}, "timeouts": {"services": 1}}))
    out = tmp_path / "results.json"
    assert vc.main(["--config", str(cfg), "--results", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["ok"] and results["table"][0].startswith("check")
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    assert "cleanup           PASS" in capsys.readouterr().out
    cloud.compute.services = lambda: []
    assert vc.main(["--config", str(cfg), "--results", str(out)]) == 1
    assert json.loads(out.read_text())["failed"] == ["compute_services"]


# --- the dashboard in headless Chromium --------------------------------------------


@functools.lru_cache(maxsize=None)
def chromium_starts():
    """None when this machine's Chromium renders a page by itself (without the driver
    and the code under test), else what it printed."""
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([vc.DEFAULTS["chromium"]] + vc.CHROMIUM_FLAGS
                             + ["--user-data-dir=" + profile, "--dump-dom", "data:text/html,<p>up</p>"],
                             capture_output=True, text=True, timeout=120)
    return None if "<p>up</p>" in res.stdout else "exit %s: %s" % (res.returncode, res.stderr[-1500:])


def chromium_or_skip():
    pytest.importorskip("selenium")
    for path in (vc.DEFAULTS["chromium"], vc.DEFAULTS["chromedriver"]):
        if not shutil.which(path):
            pytest.skip("%s is not installed" % path)
    broken = chromium_starts()
    if broken:
        pytest.skip("this machine's Chromium does not start on its own, so the dashboard check cannot run "
                    "here: %s" % broken)


def dashboard_validator(tmp_path, web, server_name=None):
    config = vc.load_config({"clouds_yaml": clouds_yaml(tmp_path, web.url + "/v3"),
                             "boot_server": False, "work_dir": str(tmp_path),
                             "dashboard_url": web.url + "/horizon/", "timeouts": {"dashboard": 20}})
    results = vc.Results(secrets=[PASSWORD])
    validator = vc.Validator(config, results, vc.read_clouds_yaml(config["clouds_yaml"], "stackwright"))
    if server_name:
        results.record("server", True, 1.0, "booted")
        validator.made["server"] = SimpleNamespace(name=server_name)
    return validator


def test_dashboard_lists_the_server(tmp_path, web):
    chromium_or_skip()
    Handler.servers = ["other", "sw-validate-server"]
    detail = dashboard_validator(tmp_path, web, "sw-validate-server").dashboard()
    assert detail == "logged in as admin at %s/horizon/; the instance list shows sw-validate-server" % web.url
    assert not [p for p in os.listdir(tmp_path) if p.startswith("chromium-")]  # the profile is gone


def test_dashboard_without_a_server(tmp_path, web):
    chromium_or_skip()
    detail = dashboard_validator(tmp_path, web).dashboard()
    assert detail.endswith("the instance list renders (no server booted)")


def test_dashboard_failures(tmp_path, web):
    chromium_or_skip()
    validator = dashboard_validator(tmp_path, web, "sw-validate-server")
    with pytest.raises(vc.CheckFailed, match="does not list sw-validate-server"):
        validator.dashboard()
    assert os.path.exists(tmp_path / "dashboard-failure.png")
    validator.entry["auth"]["password"] = "wrong"
    validator.timeouts["dashboard"] = 3
    with pytest.raises(vc.CheckFailed, match="login as admin failed: Invalid credentials."):
        validator.dashboard()
    validator.config["dashboard_url"] = web.url + "/status/404/"
    with pytest.raises(vc.CheckFailed, match="shows no login form"):
        validator.dashboard()


def test_dashboard_browser_that_does_not_start(tmp_path, web):
    """A browser that exits at once (a stand-in script: a broken Chromium cannot be made
    on purpose) fails the check with what it printed, and leaves no profile behind."""
    chromium_or_skip()
    broken = tmp_path / "chromium"
    broken.write_text("#!/bin/sh\necho 'cannot open shared object file: libexample.so' >&2\nexit 127\n")
    broken.chmod(0o755)
    validator = dashboard_validator(tmp_path, web)
    validator.config["chromium"] = str(broken)
    with pytest.raises(vc.CheckFailed, match=r"Chromium \(%s\) did not start: .*it said: .*libexample.so" % broken):
        validator.dashboard()
    assert not [p for p in os.listdir(tmp_path) if p.startswith("chromium-")]


def test_catalog_interfaces(tmp_path, web):
    config = vc.load_config({"clouds_yaml": clouds_yaml(tmp_path), "boot_server": False,
                             "catalog_interfaces": ["public"]})
    validator = vc.Validator(config, vc.Results(), {})
    validator.conn = FakeCloud(catalog(web.url, [200, 401, 503]))
    with pytest.raises(vc.CheckFailed) as info:
        validator.catalog()
    assert str(info.value).startswith("1 of 3 endpoints fail: svc2 public ")
    validator.conn = FakeCloud(catalog(web.url, [200, 401]))
    assert validator.catalog() == "2 endpoints (2 URLs) answer"


def test_interrupted_run_still_cleans_up(monkeypatch, tmp_path, web):
    cloud = FakeCloud(catalog(web.url, [200]))
    cloud._add("flavors", R(name="sw-validate-flavor"))

    def interrupt(**attrs):
        cloud._add("security_groups", R(**attrs), project=True)
        raise vc.Interrupted("signal 15")

    cloud.network.create_security_group = interrupt
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["failed"] == ["security_group"]
    assert checks["security_group"]["detail"] == "interrupted (signal 15)"
    assert checks["server"]["detail"] == "skipped: interrupted"
    assert checks["cleanup"]["ok"] is True and "security group sw-validate-sg" in checks["cleanup"]["detail"]
    assert not any(cloud.store[k] for k in ("security_groups", "networks", "flavors", "images", "routers"))


# --- Barbican's secret and Heat's stack ----------------------------------------------


class CatalogueCloud(FakeCloud):
    """FakeCloud with Barbican (secrets kept as the bytes of their base64 payload) and a
    Heat that makes a template's networks, subnets, ports, volumes and servers in the
    fake cloud, a project in its stack domain for the wait condition handle's user,
    and deletes them with the stack. leak: a resource name the delete leaves (or
    "project", the stack domain's project);
    corrupt: Barbican gives back other bytes; fail: the stack's CREATE_FAILED reason."""

    def __init__(self, catalog, leak=None, corrupt=False, fail=None):
        super().__init__(catalog, project="0a1b2c3d4e5f60718293a4b5c6d7e8f9")  # as long as Keystone's
        self.leak, self.corrupt, self.fail = leak, corrupt, fail
        self.store.update(secrets=[], stacks=[], projects=[])
        self.roles = {"admin", "creator"}
        self.key_manager = SimpleNamespace(
            create_secret=self._create_secret,
            get=self._secret_get,
            delete=lambda url, raise_exc=True: self._del("secrets", self._find("secrets", url.split("/")[1])),
            delete_secret=lambda s: self._del("secrets", s),
            find_secret=lambda i: next((s for s in self.store["secrets"] if s.id == i), None),
            secrets=lambda: list(self.store["secrets"]),
        )
        self.identity = SimpleNamespace(
            find_role=lambda name: R(name=name) if name in self.roles else None,
            find_domain=lambda name: R(id="d-heat", name=name) if name == "heat" else None,
            projects=lambda domain_id=None: [p for p in self.store["projects"] if p.domain_id == domain_id],
        )
        self.orchestration = SimpleNamespace(
            create_stack=self._create_stack,
            wait_for_status=self._stack_wait,
            get_stack=lambda s: self._find("stacks", s.id),
            delete_stack=self._delete_stack,
            wait_for_delete=lambda s, **a: s,
            stacks=lambda: list(self.store["stacks"]),
        )
        self.network.find_network = lambda i: next((n for n in self.store["networks"] if n.id == i), None)
        self.network.find_port = lambda i: next((p for p in self.store["ports"] if p.id == i), None)
        self.compute.find_server = lambda i: next((s for s in self.store["servers"] if s.id == i), None)

    resets = 0

    def _secret_get(self, url, headers=None, raise_exc=True):
        """GET secrets/<id>[/payload]: the payload's bytes, or the status (404 once deleted);
        the first RESETS calls fail as a pooled connection uWSGI closed does."""
        if self.resets:
            self.resets -= 1
            raise ConnectionError("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")
        found = [s for s in self.store["secrets"] if s.id == url.split("/")[1]]
        if not url.endswith("/payload"):
            return R(status_code=200 if found else 404)
        return R(content=found[0].data[::-1 if self.corrupt else 1].encode(), status_code=200)

    def _create_secret(self, name, payload, payload_content_type, **attrs):
        assert payload_content_type == "text/plain" and isinstance(payload, str)
        return self._add("secrets", R(name=name, data=payload, **attrs))

    def _create_stack(self, name, template, timeout_mins):
        stack = self._add("stacks", R(name=name, template=template, made=[], status="CREATE_IN_PROGRESS",
                                      status_reason=None, outputs=[]))
        stack.id = "5f0c1c9e-8f1e-4b8e-9c1a-%012d" % len(self.store["stacks"])  # a UUID's length
        if self.fail:
            stack.status, stack.status_reason = "CREATE_FAILED", self.fail
            return stack
        res = template["resources"]
        net = self.network.create_network(name=res["net"]["properties"]["name"])
        subnet = self.network.create_subnet(name=res["subnet"]["properties"]["name"], network_id=net.id,
                                            cidr=res["subnet"]["properties"]["cidr"])
        port = self._add("ports", R(name=res["port"]["properties"]["name"], network_id=net.id, device_id="",
                                    device_owner="", fixed_ips=[{"subnet_id": subnet.id, "ip_address": "10.198.0.7"}]))
        stack.made += [("networks", net), ("subnets", subnet), ("ports", port)]
        # Heat's name for it, cut at Keystone's 64 characters
        self._add("projects", R(name=("%s-%s" % (self.current_project_id, stack.id))[:64], domain_id="d-heat"))
        values = {"network_id": net.id, "subnet_cidr": subnet.cidr, "port_id": port.id, "port_ip": "10.198.0.7",
                  "signal_endpoint": "http://192.0.2.10:8004/v1/%s/stacks/%s/resources/handle/signal" % (
                      self.current_project_id, name)}
        if "volume" in res:
            volume = self.block_storage.create_volume(name=res["volume"]["properties"]["name"], size=1)
            stack.made.append(("volumes", volume))
            values.update(volume_id=volume.id, volume_size=1)
        if "server" in res:
            server = self._add("servers", R(name=res["server"]["properties"]["name"], status="ACTIVE",
                                            image=res["server"]["properties"]["image"]), project=True)
            stack.made.append(("servers", server))
            values["server_id"] = server.id
        stack.outputs = [{"output_key": k, "output_value": values[k]} for k in template["outputs"]]
        stack.status = "CREATE_COMPLETE"
        return stack

    def _stack_wait(self, stack, status, failures, **a):
        stack = self._find("stacks", stack.id)
        if stack.status in failures:
            raise RuntimeError("stack %s is %s" % (stack.name, stack.status))
        return stack

    def _delete_stack(self, stack):
        stack = self._find("stacks", stack.id)
        for kind, res in reversed(stack.made):
            if res.name == self.leak or res not in self.store[kind]:
                continue
            try:  # as Neutron would: not a network that still has a port
                (self._delete_network if kind == "networks" else functools.partial(self._del, kind))(res)
            except RuntimeError:
                pass
        if self.leak != "project":
            self.store["projects"] = [p for p in self.store["projects"] if p.name != ("%s-%s" % (
                self.current_project_id, stack.id))[:64]]
        self._del("stacks", stack)


def catalogue(base, types=("key-manager", "orchestration")):
    return catalog(base, [200]) + [{"type": t, "name": t, "endpoints": [
        {"interface": "public", "url": "%s/status/300/%s" % (base, t)}]} for t in types]


def test_stack_template_has_what_the_cloud_can_run():
    plain = vc.stack_template("sw-validate", "10.198.0.0/24")
    assert sorted(plain["resources"]) == ["handle", "net", "port", "subnet"]
    assert plain["resources"]["subnet"]["properties"]["cidr"] == "10.198.0.0/24"
    assert plain["resources"]["port"]["properties"]["name"] == "sw-validate-stack-port"
    assert sorted(plain["outputs"]) == ["network_id", "port_id", "port_ip", "signal_endpoint", "subnet_cidr"]
    full = vc.stack_template("sw-validate", "10.198.0.0/24", volume=True, server=("img-1", "fl-1"))
    assert full["resources"]["volume"]["properties"] == {"name": "sw-validate-stack-volume", "size": 1}
    assert full["resources"]["server"]["properties"]["networks"] == [{"port": {"get_resource": "port"}}]
    assert {"volume_id", "volume_size", "server_id"} <= set(full["outputs"])


def test_a_reset_connection_to_barbican_is_tried_again(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url))
    cloud.resets = 1
    monkeypatch.setattr(vc, "transient_retry", functools.partial(vc.transient_retry, delay=0))
    checks = by_name(run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False))
    assert checks["secret"]["ok"] is True and cloud.resets == 0


def test_secret_and_stack_in_the_container_scenario(monkeypatch, tmp_path, web):
    """A secret's payload comes back exactly; a stack with a network, subnet and
    port reaches CREATE_COMPLETE, its outputs match, and its delete leaves nothing - an
    earlier run's stack and secret are deleted first."""
    cloud = CatalogueCloud(catalogue(web.url))
    cloud._add("stacks", R(name="sw-validate-stack", made=[]))
    cloud._add("secrets", R(name="sw-validate-secret", data=b"old"))
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert checks["leftovers"]["detail"] == "deleted stack sw-validate-stack, secret sw-validate-secret"
    assert checks["secret"]["detail"] == ("sw-validate-secret: 64 random characters stored, read back exactly, "
                                          "deleted; role creator present")
    assert checks["stack"]["detail"].startswith("sw-validate-stack CREATE_COMPLETE in ")
    assert checks["stack"]["detail"].endswith("(network, port; outputs match); deleted with all of them")
    assert not cloud.store["stacks"] and not cloud.store["secrets"] and not cloud.store["projects"]
    assert not any(p.name.startswith("sw-validate") for p in cloud.store["ports"])
    assert not cloud.store["networks"]


def test_stack_with_a_volume_and_a_server(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url))
    summary = run_fake(monkeypatch, tmp_path, cloud)
    checks = by_name(summary)
    assert summary["ok"], "\n".join(summary["table"])
    assert "(network, port, volume, server; outputs match)" in checks["stack"]["detail"]
    stack_server = [d for d in cloud.deleted if d == "servers sw-validate-stack-server"]
    assert stack_server  # made from the check's image and flavor, deleted with the stack
    assert not cloud.store["servers"] and not cloud.store["volumes"]


def test_a_payload_that_comes_back_different_fails(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url), corrupt=True)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["failed"] == ["secret"]
    assert checks["secret"]["detail"] == ("sw-validate-secret: the payload read back (64 characters) differs from "
                                          "the one stored (64)")
    assert checks["cleanup"]["ok"] is True and not cloud.store["secrets"]


def test_a_missing_creator_role_fails(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url))
    cloud.roles.discard("creator")
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    assert summary["failed"] == ["secret"]
    assert "Keystone has no role creator" in by_name(summary)["secret"]["detail"]


def test_a_stack_that_leaves_a_resource_fails_and_the_cleanup_takes_it(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url), leak="sw-validate-stack-port")
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["failed"] == ["stack"]
    # the port holds its network
    assert checks["stack"]["detail"] == "sw-validate-stack deleted, but left behind: network, port"
    assert checks["cleanup"]["ok"] is True
    assert not cloud.store["ports"] and not cloud.store["networks"]


def test_a_stack_that_fails_says_why(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url), fail="Resource CREATE failed: Forbidden: stack domain admin")
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["failed"] == ["stack"]
    assert checks["stack"]["detail"] == ("sw-validate-stack did not reach CREATE_COMPLETE: Resource CREATE failed: "
                                         "Forbidden: stack domain admin")
    assert checks["cleanup"]["ok"] is True and checks["cleanup"]["detail"].startswith("deleted stack sw-validate-stack, ")
    assert not cloud.store["stacks"]


def test_without_barbican_or_heat_the_checks_skip_saying_why(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url, types=()))
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    checks = by_name(summary)
    assert summary["ok"]
    assert checks["secret"] == {"name": "secret", "ok": None, "seconds": 0.0,
                                "detail": "skipped: no key-manager in the catalog (barbican is in no server role)"}
    assert checks["stack"]["detail"] == "skipped: no orchestration in the catalog (heat is in no server role)"
    off = by_name(run_fake(monkeypatch, tmp_path, CatalogueCloud(catalogue(web.url)), boot_server=False,
                           volume=False, key_manager=False, orchestration=False))
    assert off["secret"]["detail"] == "skipped: disabled (key_manager is false)"
    assert off["stack"]["detail"] == "skipped: disabled (orchestration is false)"


def test_a_stack_whose_domain_project_stays_fails(monkeypatch, tmp_path, web):
    cloud = CatalogueCloud(catalogue(web.url), leak="project")
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    assert summary["failed"] == ["stack"]
    assert by_name(summary)["stack"]["detail"] == (
        "sw-validate-stack deleted, but left behind: its project in the stack domain")


@pytest.mark.parametrize("status, reason, error, timeouts, detail", [
    # Heat gave up: its reason
    ("DELETE_FAILED", "Resource DELETE failed: Conflict: port in use", "stack is DELETE_FAILED", {"services": 1},
     "sw-validate-stack: its delete did not complete: Resource DELETE failed: Conflict: port in use"),
    # still deleting at the timeout: the error, and Heat's status reason
    ("DELETE_IN_PROGRESS", "Stack DELETE started", "Timeout waiting for Stack to delete", {"delete": 1},
     "sw-validate-stack: its delete did not complete: Timeout waiting for Stack to delete (Stack DELETE started)"),
])
def test_a_stack_whose_delete_does_not_end_says_why(monkeypatch, tmp_path, web, status, reason, error, timeouts,
                                                    detail):
    cloud = CatalogueCloud(catalogue(web.url))

    def stuck(stack, **kwargs):
        found = cloud._find("stacks", stack.id)
        found.status, found.status_reason = status, reason
        raise RuntimeError(error)

    cloud.orchestration.delete_stack = lambda s: None
    cloud.orchestration.wait_for_delete = stuck
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False, timeouts=timeouts)
    if status == "DELETE_FAILED":
        assert summary["failed"] == ["stack", "cleanup"]
    assert by_name(summary)["stack"]["detail"] == detail


def test_an_api_error_while_a_stack_is_deleted_is_read_again(monkeypatch, tmp_path, web):
    """heat-api answered 503 once while the stack was being deleted (Molecule overcloud,
    stop 27's CI): not the delete's failure, the wait reads the stack again."""
    cloud = CatalogueCloud(catalogue(web.url))
    waits = []

    def flaky_wait(stack, **kwargs):
        waits.append(kwargs["wait"])
        if len(waits) == 1:
            cloud._find("stacks", stack.id).status_reason = "Stack DELETE started"
            raise RuntimeError("HttpException: 503: Service Unavailable")
        return stack

    delete = cloud.orchestration.delete_stack
    cloud.orchestration.delete_stack = lambda s: None  # deleted only when the wait succeeds
    cloud.orchestration.wait_for_delete = lambda s, **a: (flaky_wait(s, **a), delete(s))[0]
    monkeypatch.setattr(vc.time, "sleep", lambda s: None)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False)
    assert summary["ok"], summary["table"]
    assert len(waits) == 2 and by_name(summary)["stack"]["detail"].endswith("deleted with all of them")


# --- Designate's zone, answered by a DNS server -------------------------------------


class DnsServer:
    """A DNS server on loopback answering A queries from a dict name -> address, as an
    authoritative server does (AA set, REFUSED for a name it has no zone for), its
    answers' names compressed (a pointer to the question) as BIND's are. A stand-in
    for BIND here: the real one answers in Molecule overcloud."""

    def __init__(self):
        self.records, self.authoritative = {}, True
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            qid = data[:2]
            end = vc._skip_name(data, 12)
            labels, offset = [], 12
            while data[offset]:
                labels.append(data[offset + 1:offset + 1 + data[offset]].decode())
                offset += 1 + data[offset]
            name = ".".join(labels) + "."
            question = data[12:end + 4]
            address = self.records.get(name)
            flags = 0x8000 | (0x0400 if self.authoritative and address else 0) | (0 if address else 5)
            answer = b""
            if address:
                answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + socket.inet_aton(address)
            self.sock.sendto(qid + struct.pack(">HHHHH", flags, 1, 1 if address else 0, 0, 0) + question + answer, peer)

    def close(self):
        self.sock.close()


class DnsCloud(CatalogueCloud):
    """CatalogueCloud with Designate: a zone and its recordsets go ACTIVE at once and
    reach the DNS server (unless stale: never; linger: still answered after the delete),
    and Neutron's DNS integration: a port named on a network whose dns_domain is a zone
    is published there (unless integration is False: no extension; or "silent": the
    extension, but nothing published; or "sticky": the record stays after the port)."""

    def __init__(self, catalog, server, stale=False, linger=False, integration=True):
        super().__init__(catalog)
        self.server, self.stale, self.linger, self.integration = server, stale, linger, integration
        self.store.update(zones=[], recordsets=[])
        self.network.extensions = lambda: [R(alias="subnet-dns-publish-fixed-ip")] if self.integration else []
        self.network.create_port = self._create_port
        self.network.delete_port = self._delete_port
        self.dns = SimpleNamespace(
            create_zone=lambda **a: self._add("zones", R(status="ACTIVE", action="CREATE", serial=1, **a)),
            get_zone=self._get_zone,
            find_zone=lambda name: next((z for z in self.store["zones"] if z.name == name), None),
            delete_zone=self._delete_zone,
            zones=lambda: list(self.store["zones"]),
            create_recordset=self._create_recordset,
            get_recordset=lambda rs, zone: self._find("recordsets", rs.id),
            recordsets=lambda zone: [r for r in self.store["recordsets"] if r.zone_id == zone.id],
        )

    def _create_recordset(self, zone, name, type, records, ttl):
        if not self.stale:
            self.server.records[name] = records[0]
        return self._add("recordsets", R(name=name, zone_id=zone.id, status="ACTIVE", action="CREATE", type=type,
                                         records=records))

    def _create_port(self, network_id, name, dns_name):
        net = self._find("networks", network_id)
        port = self._add("ports", R(name=name, network_id=network_id, device_id="", device_owner="", dns_name=dns_name,
                                    fixed_ips=[{"ip_address": "10.197.0.%d" % (10 + len(self.store["ports"]))}]))
        zone = next((z for z in self.store["zones"] if z.name == getattr(net, "dns_domain", None)), None)
        if zone and (self.integration is True or self.integration == "sticky"):
            self._create_recordset(zone, "%s.%s" % (dns_name, zone.name), "A", [port.fixed_ips[0]["ip_address"]], 300)
        return port

    def _delete_port(self, port):
        self._del("ports", port)
        if self.integration != "sticky":
            name = "%s." % port.dns_name
            for rs in [r for r in self.store["recordsets"] if r.name.startswith(name)]:
                self.store["recordsets"].remove(rs)
                self.server.records.pop(rs.name, None)
                # Designate 20: the zone stays ACTIVE at its serial until the producer raises
                # it (the next look but one), then PENDING while the worker updates BIND
                self._find("zones", rs.zone_id).raise_serial = 3

    def _get_zone(self, zone):
        found = self._find("zones", zone.id)
        if getattr(found, "raise_serial", 0):
            found.raise_serial -= 1
            if found.raise_serial == 1:
                found.serial, found.status = found.serial + 1, "PENDING"
            elif found.raise_serial == 0:
                found.status = "ACTIVE"
        shown = R(**vars(found))
        if found.status == "PENDING" and not getattr(found, "raise_serial", 0):
            found.status = "ACTIVE"
        return shown

    def _delete_zone(self, zone):
        # a delete before the update of its serial reached BIND: the update adds the zone
        # back to BIND (Designate 20, Molecule overcloud)
        pending = getattr(self._find("zones", zone.id), "raise_serial", 0) > 0
        self._del("zones", zone)
        if not self.linger and not pending:
            self.server.records = {k: v for k, v in self.server.records.items() if not k.endswith(zone.name)}


@pytest.fixture
def dns_server():
    server = DnsServer()
    yield server
    server.close()


def test_a_zone_answered_by_the_dns_server_then_gone(monkeypatch, tmp_path, web, dns_server):
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server)
    cloud._add("zones", R(name="sw-validate-zone.example.com.", status="ACTIVE"))  # an earlier run's
    cloud._add("zones", R(name="operator.example.com.", status="ACTIVE"))
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % dns_server.port, timeouts={"zone": 6})
    checks = by_name(summary)
    assert summary["ok"], summary["table"]
    assert checks["leftovers"]["detail"] == "deleted zone sw-validate-zone.example.com."
    detail = checks["zone"]["detail"]
    assert detail.startswith("sw-validate-zone.example.com. ACTIVE in ")
    assert re.search(r"127\.0\.0\.1:\d+ answers www\.sw-validate-zone\.example\.com\. A 192\.0\.2\.\d+ "
                     r"\(authoritative\); Neutron published port sw-validate-dns-port as "
                     r"sw-validate-port\.sw-validate-zone\.example\.com\. A 10\.197\.0\.\d+, answered; gone with the "
                     r"port; deleted, it answers REFUSED$", detail), detail
    assert [z.name for z in cloud.store["zones"]] == ["operator.example.com."]
    # the port's network, its dns_domain the zone, and a subnet that publishes its ports
    assert not cloud.store["networks"] and not cloud.store["ports"]
    assert [(s.cidr, s.dns_publish_fixed_ip) for s in cloud.store["subnets"] if s.name == "sw-validate-dns-subnet"] \
        == [("10.197.0.0/24", True)]


@pytest.mark.parametrize("integration, message", [
    (False, "Neutron has no DNS integration with Designate .no extension subnet-dns-publish-fixed-ip."),
    ("silent", "timed out after 1s waiting for Neutron to publish port sw-validate-dns-port as "
               "sw-validate-port.sw-validate-zone.example.com. in Designate"),
    ("sticky", "waiting for Neutron to remove sw-validate-port.sw-validate-zone.example.com. from Designate"),
])
def test_neutron_not_publishing_or_not_removing_a_port_fails(monkeypatch, tmp_path, web, dns_server, integration,
                                                             message):
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server, integration=integration)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % dns_server.port, timeouts={"zone": 1})
    assert summary["failed"] == ["zone"]
    assert re.search(message, by_name(summary)["zone"]["detail"]), by_name(summary)["zone"]["detail"]
    assert not cloud.store["zones"] and not cloud.store["networks"]  # the cleanup took them


def test_a_zone_the_dns_server_never_gets_fails(monkeypatch, tmp_path, web, dns_server):
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server, stale=True)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % dns_server.port, timeouts={"zone": 1})
    assert summary["failed"] == ["zone"]
    assert re.match(r"sw-validate-zone\.example\.com\. is ACTIVE in Designate, but the DNS server 127\.0\.0\.1:\d+ "
                    r"gives REFUSED for www\.sw-validate-zone\.example\.com\. \(wanted A 192\.0\.2\.\d+\)$",
                    by_name(summary)["zone"]["detail"])
    assert not cloud.store["zones"]  # the cleanup took it


def test_a_zone_still_answered_after_its_delete_fails(monkeypatch, tmp_path, web, dns_server):
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server, linger=True)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % dns_server.port, timeouts={"zone": 6})
    assert summary["failed"] == ["zone"]
    assert "deleted in Designate, but 127.0.0.1:" in by_name(summary)["zone"]["detail"]


def test_an_answer_that_is_not_authoritative_fails(monkeypatch, tmp_path, web, dns_server):
    dns_server.authoritative = False
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server)
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % dns_server.port, timeouts={"zone": 1})
    assert summary["failed"] == ["zone"]
    assert "not as the zone's authority" in by_name(summary)["zone"]["detail"]


def test_the_dns_server_is_the_dns_endpoints_host_by_default(monkeypatch, tmp_path, web):
    cloud = DnsCloud(catalogue(web.url, ("dns",)), None)
    v = vc.Validator(vc.load_config({"clouds_yaml": "/c.yaml", "boot_server": False}), None, {})
    v.conn = cloud
    monkeypatch.setattr(v, "_catalog", lambda: [{"type": "dns", "endpoints": [
        {"interface": "internal", "url": "http://172.16.2.10:9001"},
        {"interface": "public", "url": "http://192.168.24.50:9001/"}]}])
    assert v._dns_server() == ("192.168.24.50", 53)


def test_no_dns_in_the_catalog_skips_the_zone(monkeypatch, tmp_path, web):
    summary = run_fake(monkeypatch, tmp_path, CatalogueCloud(catalogue(web.url, ())), boot_server=False, volume=False)
    assert by_name(summary)["zone"]["ok"] is None


@pytest.mark.parametrize("field, value, message", [
    ("dns_server", "ns1", "dns_server: 'ns1' is not an IP address, or address:port"),
    ("dns_server", "10.0.0.1:0", "dns_server: '10.0.0.1:0' is not an IP address, or address:port"),
    ("dns_domain", "Example_com", "dns_domain: 'Example_com' is not a domain name (lower-case letters, digits, '-', dots)"),
])
def test_bad_dns_settings_are_refused_naming_the_field(field, value, message):
    with pytest.raises(vc.ConfigError) as raised:
        vc.load_config({"clouds_yaml": "/c.yaml", "boot_server": False, field: value})
    assert str(raised.value) == message


def test_a_dns_server_that_does_not_answer_is_retried_then_named(monkeypatch, tmp_path, web, dns_server):
    """Nothing listens on the port: each query is 'no answer', retried until the
    timeout, and the failure names the server (not a socket exception)."""
    cloud = DnsCloud(catalogue(web.url, ("dns",)), dns_server)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    summary = run_fake(monkeypatch, tmp_path, cloud, boot_server=False, volume=False,
                       dns_server="127.0.0.1:%d" % port, timeouts={"zone": 1})
    assert summary["failed"] == ["zone"]
    assert re.match(r"sw-validate-zone\.example\.com\. is ACTIVE in Designate, but the DNS server 127\.0\.0\.1:%d "
                    r"gives no answer \(Connection refused\) for www\." % port, by_name(summary)["zone"]["detail"])


@pytest.mark.parametrize("answer", [
    b"",  # header only, claiming an answer
    b"\x03www",  # a name cut short
    b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00",  # an address cut short
])
def test_a_malformed_answer_is_said_so(answer):
    """A cloud node's answer is not trusted: one cut short is 'malformed answer'."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))

    def reply():
        data, peer = server.recvfrom(512)
        end = vc._skip_name(data, 12) + 4
        server.sendto(data[:2] + struct.pack(">HHHHH", 0x8400, 1, 1, 0, 0) + data[12:end] + answer, peer)
    thread = threading.Thread(target=reply)
    thread.start()
    try:
        assert vc.dns_query_a("127.0.0.1", server.getsockname()[1], "www.example.com.") == ("malformed answer", False, [])
    finally:
        thread.join()
        server.close()


def test_guest_metadata_lines():
    assert vc.guest_metadata("stackwright-guest: eth0 10.0.0.5/24\n") is None
    assert vc.guest_metadata("stackwright-guest: metadata uuid 5e7a-01\r\n") == "5e7a-01"
    assert vc.guest_metadata("stackwright-guest: metadata unreachable\n") == "unreachable"


def test_console_token_as_nova_writes_it():
    assert vc.console_token("http://192.0.2.10:6080/vnc_lite.html?path=%3Ftoken%3Dabc-1") == "abc-1"
    assert vc.console_token("http://192.0.2.10:6080/vnc_auto.html?token=xyz") == "xyz"
    assert vc.console_token("http://192.0.2.10:6080/vnc_lite.html") == ""


class GuestCloud(FakeCloud):
    """A guest whose console says LINES after it booted, instead of a good DHCP and metadata."""

    def __init__(self, catalog, lines):
        super().__init__(catalog)
        self.lines = lines

    def _create_server(self, **attrs):
        server = super()._create_server(**attrs)
        self.console = ("stackwright-guest: booted kernel 6.12.0-test\nstackwright-guest: disks vda\n"
                        + self.lines.replace("ID", server.id))
        return server


@pytest.mark.parametrize("lines, expected", [
    ("", "no DHCP answer on eth0 within 3 s"),
    ("stackwright-guest: eth0 10.199.0.99/24\n", "DHCP gave eth0 10.199.0.99/24, not its port's address 10.199.0.23"),
    ("stackwright-guest: eth0 10.199.0.23/24\nstackwright-guest: metadata unreachable\n",
     "the metadata service (169.254.169.254) did not answer the guest (OVN's metadata agent on oc-cmp0)"),
    ("stackwright-guest: eth0 10.199.0.23/24\nstackwright-guest: metadata uuid 0000-0bad\n",
     "the metadata service (169.254.169.254) gave instance 0000-0bad"),
])
def test_a_guest_without_dhcp_or_metadata_fails_its_network_check(monkeypatch, tmp_path, web, lines, expected):
    cloud = GuestCloud(catalog(web.url, [200]), lines)
    started = time.monotonic()
    summary = run_fake(monkeypatch, tmp_path, cloud, timeouts={"services": 1, "server": 3})
    checks = by_name(summary)
    assert checks["guest_network"]["ok"] is False and expected in checks["guest_network"]["detail"]
    # the server and what hangs on it are still checked
    assert checks["server"]["ok"] and checks["console"]["ok"] and checks["volume"]["ok"] and not summary["ok"]
    assert not cloud.store["servers"]  # still cleaned up
    if "unreachable" in lines:  # the guest said it gave up: no waiting for more
        assert time.monotonic() - started < 3


@pytest.mark.parametrize("token, greets, expected", [
    ("stale-token", True, "the console's websocket was refused: HTTP/1.0 403"),
    ("good-token", False, "the console's websocket opened, but the guest's VNC server did not greet"),
])
def test_a_console_that_does_not_reach_the_guest_fails(monkeypatch, tmp_path, web, token, greets, expected):
    cloud = FakeCloud(catalog(web.url, [200]))
    cloud.console_token = token
    monkeypatch.setattr(Handler, "vnc_greets", greets)
    checks = by_name(run_fake(monkeypatch, tmp_path, cloud))
    assert checks["server"]["ok"] is True
    assert checks["console"]["ok"] is False and expected in checks["console"]["detail"]
