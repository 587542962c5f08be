"""Strict inputs, checked without root: the API's query keys, dry_run and body type
(through a real agent on a temporary socket), and every string field's pattern and the
schema's own checks (called directly). Each bad input is a 400 naming the field;
nothing is applied, nothing answered by a 500."""

import json
import os
import socket

import pytest

from fixtures import RunningAgent
from stackwright_agent import schema as s
from stackwright_agent.config import Config
from stackwright_agent.drivers import bmcs, bridges, domains, lvm, nodes
from stackwright_agent.errors import InvalidField

BMC = {"netns": "swlab", "address": "192.0.2.50", "port": 6230, "username": "admin", "password": "s3cret"}


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """One real agent for the module: none of these requests changes anything (a
    fresh agent per test costs its server's half-second shutdown poll)."""
    base = tmp_path_factory.mktemp("inputs")
    running = RunningAgent(Config(socket=str(base / "run" / "agent.sock"), state_dir=str(base / "state"),
                                  console_log_dir=str(base / "console"), roles=["lab_host", "conductor"]))
    yield running
    running.stop()


def raw(sock_path, method, target, body=b""):
    """Send one request as curl --unix-socket would; (status, decoded body)."""
    head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % (method, target, len(body))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(sock_path)
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def nothing_applied(agent):
    assert not os.path.exists(agent.config.journal_path) or '"started"' not in open(agent.config.journal_path).read()
    assert not os.path.exists(os.path.join(agent.config.state_dir, "bmcs"))


# -- the API: query keys, dry_run, the body --------------------------------------------

@pytest.mark.parametrize("method, target, field, words", [
    ("PUT", "/v1/bmcs/d1?dryrun=true", "dryrun", "did you mean 'dry_run'"),
    ("DELETE", "/v1/bmcs/d1?dryrun=true", "dryrun", "did you mean 'dry_run'"),
    ("PUT", "/v1/bmcs/d1?dry_run=true&dry_run=false", "dry_run", "given twice"),
    ("PUT", "/v1/bmcs/d1?netns=swlab", "netns", "unknown query parameter"),
    ("GET", "/v1/health?verbose=1", "verbose", "takes none"),
    ("GET", "/v1/journal?limt=5", "limt", "did you mean 'limit'"),
    ("GET", "/v1/journal?limit=-5", "limit", "from 1 to 10000"),
    ("GET", "/v1/journal?limit=0", "limit", "from 1 to 10000"),
    ("GET", "/v1/journal?limit=1e9", "limit", "from 1 to 10000"),
    ("GET", "/v1/bridges?net=x", "net", "did you mean 'netns'"),
    ("GET", "/v1/bridges?netns=..", "netns", "not '.' or '..'"),
    ("GET", "/v1/bmcs/d1?dry_run=true", "dry_run", "unknown query parameter"),
])
def test_unknown_query_keys_are_refused_and_nothing_is_applied(agent, method, target, field, words):
    status, body = raw(agent.config.socket, method, target, json.dumps(BMC).encode() if method == "PUT" else b"")
    assert status == 400, body
    assert body["error"]["field"] == field and words in body["error"]["message"]
    nothing_applied(agent)


@pytest.mark.parametrize("query", ["on", "yes", "1", "True", "", "0", "no"])
def test_dry_run_in_the_query_is_only_true_or_false(agent, query):
    status, body = raw(agent.config.socket, "PUT", "/v1/bmcs/d1?dry_run=" + query, json.dumps(BMC).encode())
    assert status == 400 and body["error"]["field"] == "dry_run", body
    nothing_applied(agent)


@pytest.mark.parametrize("value", ["true", 1, "yes", [], {}])
def test_dry_run_in_the_body_is_a_json_boolean(agent, value):
    status, body = raw(agent.config.socket, "PUT", "/v1/bmcs/d1", json.dumps(dict(BMC, dry_run=value)).encode())
    assert status == 400 and body["error"]["field"] == "dry_run" and "JSON boolean" in body["error"]["message"]
    nothing_applied(agent)


def test_dry_run_body_and_query_must_agree(agent):
    status, body = raw(agent.config.socket, "PUT", "/v1/bmcs/d1?dry_run=true",
                       json.dumps(dict(BMC, dry_run=False)).encode())
    assert status == 400 and body["error"]["field"] == "dry_run" and "query says true" in body["error"]["message"]
    nothing_applied(agent)


@pytest.mark.parametrize("payload, kind", [
    (b'"hello"', "a string"), (b'["name", "x"]', "an array"), (b"5", "a number"), (b"true", "a boolean"),
    (b'[{"name": "d1"}]', "an array"),
])
def test_a_body_that_is_not_an_object_is_a_400(agent, payload, kind):
    for method in ("PUT", "DELETE"):
        status, body = raw(agent.config.socket, method, "/v1/bmcs/d1", payload)
        assert status == 400, body
        assert body["error"]["field"] == "body" and "expected a JSON object" in body["error"]["message"]
        assert kind in body["error"]["message"]
    nothing_applied(agent)


def test_path_and_body_names_must_agree_without_root(agent):
    status, body = raw(agent.config.socket, "PUT", "/v1/bmcs/d1", json.dumps(dict(BMC, name="d2")).encode())
    assert status == 400 and body["error"]["field"] == "name" and "the path says 'd1'" in body["error"]["message"]
    nothing_applied(agent)


# -- the schema's own checks ------------------------------------------------------------

def refused(field_schema, value, field=None, words=""):
    with pytest.raises(InvalidField) as err:
        if isinstance(field_schema, s.Obj):
            field_schema.check(value)
        else:
            field_schema.check(value, "f")
    if field is not None:
        assert err.value.field == field, err.value.message
    assert words in err.value.message, err.value.message
    return err.value


def test_unknown_fields_are_refused_with_the_closest_name():
    obj = s.Obj({"address": s.Str(), "port": s.Int()})
    refused(obj, {"adress": "x"}, "adress", "did you mean 'address'")
    refused(obj, {"zzz": 1}, "zzz", "known fields: address, port")
    refused(s.Obj({"inner": obj}), {"inner": {"prot": 1}}, "inner.prot", "did you mean 'port'")
    assert obj.check({"port": 1}) == {"address": None, "port": 1}


def test_unique_lists_refuse_a_repeat():
    unique = s.List(s.Str(), unique=True)
    refused(unique, ["a", "b", "a"], "f[2]", "listed twice")
    assert unique.check(["a", "b"], "f") == ["a", "b"]
    assert s.List(s.Str()).check(["a", "a"], "f") == ["a", "a"], "only a unique list refuses repeats"
    # normalized values are compared: two spellings of one address are one address
    refused(s.List(s.Cidr(), unique=True), ["2001:db8::1/64", "2001:DB8:0::1/64"], "f[1]")


def test_integer_bounds_are_inclusive():
    port = s.Int(minimum=1, maximum=65535)
    assert port.check(1, "f") == 1 and port.check(65535, "f") == 65535
    refused(port, 65536, "f", "above the maximum 65535")
    refused(port, 0, "f", "below the minimum 1")
    refused(port, True, "f", "expected an integer")
    refused(port, "623", "f", "expected an integer")


# -- every string field has a pattern ---------------------------------------------------

BAD_BMCS = [
    ("address", "192.0.2.50\n"), ("address", "192.0.2.50; reboot"), ("address", "\x1b[2J192.0.2.50"),
    ("address", "0.0.0.0"), ("address", "::"), ("address", "224.0.0.1"), ("address", "255.255.255.255"),
    ("address", "fe80::1%eth0;id"), ("address", "bmc.example.com"),
    ("username", "x" * 17), ("username", "ad min"), ("username", "admin\n"), ("username", "adm\x1bin"),
    ("password", "p" * 21), ("password", "pass\nword"),
    ("netns", ".."), ("netns", "."), ("netns", "a/b"), ("netns", "a b"), ("netns", "swlab\n"), ("netns", ""),
    ("name", "dom\n"), ("name", "-dom"), ("name", "d/../x"), ("name", ""),
    ("port", 65536), ("port", 0),
]


@pytest.mark.parametrize("field, value", BAD_BMCS)
def test_bmc_fields_are_strict(field, value):
    err = refused(bmcs.SCHEMA, dict(BMC, **{"name": "d1", field: value}), field)
    if field == "password":
        assert value not in err.message, "a password is never echoed"


def test_a_bmc_may_listen_on_loopback_and_addresses_are_normalized():
    assert bmcs.SCHEMA.check(dict(BMC, name="d1", address="127.0.0.1"))["address"] == "127.0.0.1"
    assert bmcs.SCHEMA.check(dict(BMC, name="d1", address="2001:DB8::0:1"))["address"] == "2001:db8::1"


BAD_BRIDGES = [
    ("name", ".."), ("name", "."), ("name", "br0\n"), ("name", "br 0"), ("name", "br/0"), ("name", "b" * 16),
    ("name", "br:0"),
    ("addresses", ["0.0.0.0/0"]), ("addresses", ["::/0"]), ("addresses", ["127.0.0.1/8"]),
    ("addresses", ["224.0.0.1/24"]), ("addresses", ["0.0.0.0/24"]), ("addresses", ["192.0.2.1/24\n"]),
    ("ports", [{"name": ".."}]), ("ports", [{"name": "p0", "veth_peer": "p0\n"}]),
    ("ports", [{"name": "p0", "peer_netns": ".."}]),
]


@pytest.mark.parametrize("field, value", BAD_BRIDGES)
def test_bridge_fields_follow_the_kernels_rules(field, value):
    err = refused(bridges.SCHEMA, {"name": "br0", field: value})
    assert err.field.startswith(field)


def test_bridge_names_the_kernel_takes_pass():
    assert bridges.SCHEMA.check({"name": "b" * 15, "netns": "swlab"})["name"] == "b" * 15
    assert bridges.SCHEMA.check({"name": "br-0.10"})["name"] == "br-0.10"


BAD_PATHS = ["relative.qcow2", "/var/lib/../../etc/shadow", "/a\nb", "/a\x1b[2Jb", "", "~/x.qcow2"]


@pytest.mark.parametrize("value", BAD_PATHS)
def test_disk_paths_are_absolute_and_plain(value):
    body = {"name": "d1", "disks": [{"path": value}]}
    refused(domains.SCHEMA, body, "disks[0].path")
    refused(domains.SCHEMA, {"name": "d1", "disks": [{"path": "/x.qcow2", "backing": value}]}, "disks[0].backing")
    refused(lvm.VG_SCHEMA, {"name": "vg0", "pvs": [value]}, "pvs[0]")


def test_paths_are_normalized():
    got = domains.SCHEMA.check({"name": "d1", "disks": [{"path": "//var//lib/./images/d1.qcow2/"}]})
    assert got["disks"][0]["path"] == "/var/lib/images/d1.qcow2"
    assert lvm.VG_SCHEMA.check({"name": "vg0", "pvs": ["/dev//sdb"]})["pvs"] == ["/dev/sdb"]


NODE = {"name": "n1", "role": "compute", "kind": "baremetal", "macs": ["52:54:00:aa:00:01"],
        "bmc": {"address": "192.0.2.11", "port": 623, "username": "admin", "password": "s3cret"}}


def node_with(path, value):
    body = json.loads(json.dumps(NODE))
    target, *rest = path.split(".")
    if rest:
        body.setdefault(target, {})[rest[0]] = value
    else:
        body[target] = value
    return body


BAD_NODES = [
    ("name", "n1\n"), ("name", "n 1"), ("role", "compute\n"), ("role", "compute; reboot"), ("role", "\x1b[31mx"),
    ("role", "-e x=1"), ("kind", "vm\n"), ("kind", "baremetal "),
    ("bmc.address", "0.0.0.0"), ("bmc.address", "224.0.0.1"), ("bmc.address", "bmc\n.example"),
    ("bmc.address", "bmc;id"), ("bmc.address", "fe80::1%eth0"), ("bmc.username", "u" * 17),
    ("bmc.username", "ad min"), ("bmc.password", "p" * 21), ("bmc.password", "pass\x1bword"),
    ("properties.ssh_authorized_keys", 5), ("properties.ssh_authorized_keys", "ssh-ed25519 AAAA me@h"),
    ("properties.ssh_authorized_keys", ["not a key"]), ("properties.ssh_authorized_keys", [5]),
    ("properties.ssh_authorized_keys", ["ssh-ed25519 AAAA a\nssh-rsa BBBB evil"]),
    ("properties.ssh_authorized_keys", ['command="id" ssh-ed25519 AAAA me@h']),
    ("network.address", "127.0.0.5/8"), ("network.address", "0.0.0.0/0"), ("network.address", "224.0.0.5/24"),
    ("network.address", "::1/128"), ("network.address", "10.0.0.5/0"),
]


@pytest.mark.parametrize("path, value", BAD_NODES)
def test_node_fields_are_strict(path, value):
    with pytest.raises(InvalidField) as err:
        nodes.SCHEMA.check(node_with(path, value))
    assert err.value.field.startswith(path), (err.value.field, err.value.message)
    if path == "bmc.password":
        assert value not in err.value.message


def test_ssh_keys_as_a_pub_file_reads_them():
    keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG8 me@host\n", "ecdsa-sha2-nistp256 AAAAE2VjZHNh= x"]
    got = nodes.SCHEMA.check(node_with("properties.ssh_authorized_keys", keys))
    assert got["properties"]["ssh_authorized_keys"] == [keys[0].strip(), keys[1]]
