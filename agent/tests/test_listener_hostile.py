"""The provisioning listener and the node registry against a hostile provisioning
network (docs/design/provisioning.md, "Trust model"): real HTTP over real sockets to
the listener, real enrollments through the agent's API, a real full filesystem."""

import json
import os
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from fixtures import agent_client, http, token_of
from stackwright_agent import provisioning
from stackwright_agent.config import Config
from stackwright_agent.registry import Registry

from test_nodes import disk, node_body

MAC = "52:54:00:aa:00:01"
INIT = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "image_build", "files", "ramdisk", "init")


def raw(server, data, wait=5):
    """Send ``data`` on a fresh connection; (status, elapsed seconds) of the answer."""
    host, port = server.server_address[:2]
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=wait) as sock:
        sock.sendall(data)
        answer = sock.recv(4096)
    return int(answer.split()[1]), time.monotonic() - start


def armed_for_inspection(agent, name="n1", mac=MAC):
    agent.put("nodes", name, node_body(name, mac=mac))
    agent.put("nodes", name, {"provision_state": "verified", "action": {"action": "inspect"}})
    return token_of(agent, name)


def rss_mib():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


# ---------------------------------------------------------------- body limits

@pytest.mark.parametrize("headers, status", [
    ("Content-Length: -1", 400),
    ("Content-Length: abc", 400),
    ("Content-Length: 1e3", 400),
    ("", 411),
    ("Transfer-Encoding: chunked", 411),
    ("Content-Length: %d" % (400 << 20), 413),
])
def test_content_length_is_refused_before_the_body_is_read(agent, listener, headers, status):
    token = armed_for_inspection(agent)
    request = "POST /v1/ramdisk/n1/inspection?token=%s HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % (
        token, headers + "\r\n" if headers else "")
    got, elapsed = raw(listener, request.encode())  # no body is ever sent
    assert got == status and elapsed < 2
    assert agent.find("nodes", "n1")["provision_state"] == "verified"


def test_half_sent_requests_and_unknown_macs_keep_threads_and_memory_bounded(agent, listener, monkeypatch):
    monkeypatch.setattr(provisioning._Handler, "timeout", 1)
    for i in range(200):  # a registry of some size: a miss must not decode it
        listener.registry.update("m%03d" % i, {"macs": ["52:54:01:00:%02x:%02x" % (i // 256, i % 256)]}, create=True)
    threads_before, rss_before = threading.active_count(), rss_mib()
    host, port = listener.server_address[:2]
    held = []
    for _ in range(300):
        sock = socket.create_connection((host, port), timeout=10)
        sock.sendall(b"GET /boot.ipxe HTTP/1.1\r\nHost: x\r\n")  # never finished
        held.append(sock)
    time.sleep(0.3)
    peak = threading.active_count()
    assert peak - threads_before <= provisioning.PER_ADDRESS + 1, "one thread per half-sent request"
    # the read timeout drops the ones being served; the ones beyond the bound were closed at once
    deadline = time.monotonic() + 10
    for sock in held:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        assert sock.recv(100) == b"", "closed by the listener, unanswered"
        sock.close()
    time.sleep(0.5)
    assert threading.active_count() - threads_before <= 1, "half-sent requests still hold threads"
    assert http(listener, "/boot.ipxe")[0] == 200, "the listener still answers"

    start = time.monotonic()
    for i in range(1000):
        assert http(listener, "/nodes/52-54-00-ff-%02x-%02x.ipxe" % (i // 256, i % 256))[0] == 404
    per_request = (time.monotonic() - start) / 1000
    grown = rss_mib() - rss_before
    print("peak threads +%d; 1000 unknown MACs: %.2f ms each; RSS %.1f -> %.1f MiB"
          % (peak - threads_before, per_request * 1000, rss_before, rss_before + grown))
    # no memory per request (the service's own RSS, under 100 MiB, is measured on the real
    # process: test_agent_process.py; this process also holds every earlier test's state)
    assert grown < 30
    assert threading.active_count() - threads_before <= 1


def test_a_mac_lookup_reads_the_index_and_old_registries_get_it(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # a registry written before the index: nodes only
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        db.execute("CREATE TABLE nodes (name TEXT PRIMARY KEY, role TEXT, kind TEXT, bmc_driver TEXT, "
                   "bmc_address TEXT, bmc_port INTEGER, bmc_username TEXT, bmc_password TEXT, bmc_salt TEXT, "
                   "macs TEXT NOT NULL DEFAULT '[]', root_device TEXT NOT NULL DEFAULT '{}', network TEXT, "
                   "properties TEXT NOT NULL DEFAULT '{}', provision_state TEXT NOT NULL DEFAULT 'enrolled', "
                   "power_state TEXT NOT NULL DEFAULT 'unknown', inspection TEXT, last_error TEXT, "
                   "target_disk TEXT, action TEXT, token TEXT, deploy_done INTEGER NOT NULL DEFAULT 0, "
                   "updated_at REAL)")
        db.execute("INSERT INTO nodes (name, macs) VALUES ('old', '[\"52:54:00:aa:00:07\"]')")
    registry = Registry(str(state))
    assert registry.by_mac("52:54:00:AA:00:07")["name"] == "old"
    registry.update("old", {"macs": ["52:54:00:aa:00:08"]})
    assert registry.by_mac("52:54:00:aa:00:07") is None and registry.by_mac("52:54:00:aa:00:08")["name"] == "old"
    with sqlite3.connect(str(state / "registry.sqlite")) as db:
        assert db.execute("SELECT mac, node FROM node_macs").fetchall() == [("52:54:00:aa:00:08", "old")]
        with pytest.raises(sqlite3.IntegrityError):  # the database holds the invariant too
            db.execute("INSERT INTO node_macs (mac, node) VALUES ('52:54:00:aa:00:08', 'other')")
    registry.delete("old")
    assert registry.by_mac("52:54:00:aa:00:08") is None


# ---------------------------------------------------------- registry invariants

def _race(agent, bodies):
    """PUT every (name, body) at once; (successes, errors)."""
    barrier, done, errors = threading.Barrier(len(bodies)), [], []

    def enroll(name, body):
        client = agent_client.AgentClient(agent.config.socket, timeout=120)
        barrier.wait()
        # no retry: forty clients connecting at once must all be queued (listen backlog)
        try:
            client.put(agent_client.resource_path("nodes", name), dict(body, dry_run=False))
            done.append(name)
        except agent_client.AgentClientError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enroll, args=item) for item in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done, errors


def test_forty_concurrent_enrollments_of_one_mac_one_wins(agent):
    bodies = [("r%02d" % i, node_body("r%02d" % i, address="192.0.2.%d" % (100 + i))) for i in range(40)]
    done, errors = _race(agent, bodies)
    assert len(done) == 1 and len(errors) == 39
    for exc in errors:
        assert exc.status == 409 and exc.field == "macs[0]" and MAC in exc.message, exc
    assert [n["name"] for n in agent.api.drivers["nodes"].registry.all()] == done


def test_forty_concurrent_enrollments_of_one_bmc_one_wins(agent):
    bodies = [("b%02d" % i, node_body("b%02d" % i, mac="52:54:00:bb:00:%02x" % i)) for i in range(40)]
    done, errors = _race(agent, bodies)
    assert len(done) == 1 and len(errors) == 39
    for exc in errors:
        assert exc.status == 409 and exc.field == "bmc.address", exc


def test_a_static_address_belongs_to_one_node(agent):
    agent.put("nodes", "s1", node_body("s1", network={"address": "192.168.24.50/24"}))
    with pytest.raises(agent_client.AgentClientError) as info:
        agent.put("nodes", "s2", node_body("s2", mac="52:54:00:aa:00:02", address="192.0.2.12",
                                           network={"address": "192.168.24.50/24"}))
    assert info.value.status == 409 and info.value.field == "network.address" and "s1" in info.value.message
    assert agent.find("nodes", "s2") is None


# ------------------------------------------------------------------------ trust

@pytest.fixture
def leased(agent, tmp_path):
    """A listener that checks dnsmasq's lease file; (server, lease file path)."""
    leases = tmp_path / "leases"
    config = Config(state_dir=agent.config.state_dir, provisioning_listen="127.0.0.1:0",
                    dhcp_lease_file=str(leases))
    server = provisioning.start(config, agent.api.drivers["nodes"].registry)
    yield server, leases
    server.shutdown()
    server.server_close()


def test_a_node_is_answered_only_at_its_leased_address(agent, leased):
    server, leases = leased
    token = armed_for_inspection(agent)
    script, instructions = "/nodes/52-54-00-aa-00-01.ipxe", "/v1/ramdisk/n1?token=" + token
    inventory = json.dumps({"disks": [disk("sda", 20)]}).encode()
    # no lease file yet; then the MAC leased elsewhere, another MAC here, an expired lease
    for text in (None, "0 %s 192.168.24.100 n1 *\n" % MAC,
                 "0 52:54:00:aa:00:02 127.0.0.1 n2 *\n",
                 "%d %s 127.0.0.1 n1 01:%s\n" % (time.time() - 60, MAC, MAC)):
        if text is not None:
            leases.write_text(text)
        assert http(server, script)[0] == 403, text
        assert http(server, instructions)[0] == 403, text
        assert http(server, "/v1/ramdisk/n1/inspection?token=" + token, inventory)[0] == 403, text
    assert agent.find("nodes", "n1")["booted_at"] is None, "a refused script marks nothing"
    leases.write_text("%d 52:54:00:aa:00:02 192.168.24.9 n2 *\n%d %s 127.0.0.1 n1 01:%s\n"
                      % (time.time() + 600, time.time() + 600, MAC, MAC))
    status, body = http(server, script)
    assert status == 200 and b"sw.token=" + token.encode() in body
    assert http(server, instructions) == (200, b"action=inspect\n")
    assert http(server, "/v1/ramdisk/n1/inspection?token=" + token, inventory)[0] == 200


def test_tokens_expire_with_the_action(agent, listener):
    token = armed_for_inspection(agent)
    registry = listener.registry
    registry.update("n1", {"armed_at": time.time() - 3590})
    status, body = http(listener, "/nodes/52-54-00-aa-00-01.ipxe")
    assert status == 200 and b" sw.timeout=" in body and int(body.split(b"sw.timeout=")[1].split()[0]) <= 10
    registry.update("n1", {"armed_at": time.time() - 3601})
    assert http(listener, "/v1/ramdisk/n1?token=" + token)[0] == 403
    assert http(listener, "/v1/ramdisk/n1/result?token=" + token, b'{"ok": true}')[0] == 403
    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe") == (200, b"#!ipxe\nexit\n")
    # an action that says its own timeout
    registry.update("n1", {"action": {"action": "inspect", "timeout": 7200}})
    assert http(listener, "/v1/ramdisk/n1?token=" + token)[0] == 200


def test_head_never_marks_a_node_booted(agent, listener):
    armed_for_inspection(agent)
    req_status = raw(listener, b"HEAD /nodes/52-54-00-aa-00-01.ipxe HTTP/1.0\r\n\r\n")[0]
    assert req_status == 200
    assert agent.find("nodes", "n1")["booted_at"] is None
    assert http(listener, "/nodes/52-54-00-aa-00-01.ipxe")[0] == 200
    assert agent.find("nodes", "n1")["booted_at"] is not None


# ------------------------------------------------------------- strict values

BAD_INVENTORIES = [
    b'{"disks": 5}',
    b'{"disks": "sda"}',
    b'{"disks": [5]}',
    b'{"disks": {"name": "sda"}}',
    b'"a string"',
    b'[{"disks": []}]',
    b'not json',
    json.dumps({"disks": [disk("sda", 20, path="/dev/sda\nimage_url=http://evil/x")]}).encode(),
    json.dumps({"disks": [disk("sda\ntarget_disk=/dev/sdb", 20)]}).encode(),
    json.dumps({"disks": [disk("sda", 20, path="/dev/../sdb")]}).encode(),
    json.dumps({"disks": [disk("sda", 20, path="/dev/sd a")]}).encode(),
    json.dumps({"disks": [disk("sda", 20, serial="\x1b[2J")]}).encode(),
    json.dumps({"disks": [dict(disk("sda", 20), size_bytes="big")]}).encode(),
    json.dumps({"disks": [dict(disk("sda", 20), size_bytes=-1)]}).encode(),
    json.dumps({"disks": [dict(disk("sda", 20), rotational="yes")]}).encode(),
    json.dumps({"disks": [disk("sda", 20)], "cpus": {"model": "x\ny"}}).encode(),
]


def test_a_bad_inventory_is_a_400_and_changes_nothing(agent, listener):
    token = armed_for_inspection(agent)
    before = agent.find("nodes", "n1")
    for body in BAD_INVENTORIES:
        status, answer = http(listener, "/v1/ramdisk/n1/inspection?token=" + token, body)
        assert status == 400, (body, status, answer)
        assert agent.find("nodes", "n1") == before, body
    good = {"disks": [disk("sda", 20, serial="DISK-B")]}
    assert http(listener, "/v1/ramdisk/n1/inspection?token=" + token, json.dumps(good).encode())[0] == 200
    assert agent.find("nodes", "n1")["target_disk"] == "/dev/sda"


def test_deploy_instructions_name_an_inventoried_disk_only(agent, listener):
    token = armed_for_inspection(agent)
    http(listener, "/v1/ramdisk/n1/inspection?token=" + token,
         json.dumps({"disks": [disk("sda", 20, serial="DISK-B")]}).encode())
    http(listener, "/v1/ramdisk/n1/result?token=" + token, b'{"action": "inspect", "ok": true}')
    agent.put("nodes", "n1", {"provision_state": "available"})
    agent.put("nodes", "n1", {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/o.raw.gz", "image_sha256": "ab" * 32}})
    token = token_of(agent, "n1")
    assert http(listener, "/v1/ramdisk/n1?token=" + token)[0] == 200
    for target in ("/dev/sdb", "/dev/sda\nimage_url=http://evil/x"):
        listener.registry.update("n1", {"target_disk": target})  # a registry edited by hand
        status, body = http(listener, "/v1/ramdisk/n1?token=" + token)
        assert status == 409 and not body.startswith(b"action=") and body.count(b"\n") == 1


def test_a_config_the_undercloud_cannot_build_says_why_on_the_node(agent, listener, monkeypatch, tmp_path):
    """No ssh-keygen on the undercloud (openssh-client missing, for real: an empty PATH):
    the ramdisk's config download gets 503, and the reason is on the node."""
    token = armed_for_inspection(agent)
    http(listener, "/v1/ramdisk/n1/inspection?token=" + token,
         json.dumps({"disks": [disk("sda", 20, serial="DISK-B")]}).encode())
    http(listener, "/v1/ramdisk/n1/result?token=" + token, b'{"action": "inspect", "ok": true}')
    agent.put("nodes", "n1", {"provision_state": "available"})
    agent.put("nodes", "n1", {"provision_state": "deploying", "action": {
        "action": "deploy", "image_url": "/images/o.raw.gz", "image_sha256": "ab" * 32}})
    monkeypatch.setenv("PATH", str(tmp_path))
    status, body = http(listener, "/v1/ramdisk/n1/config.tar.gz?token=" + token_of(agent, "n1"))
    assert status == 503 and b"ssh-keygen is not installed" in body
    assert "ssh-keygen is not installed" in agent.find("nodes", "n1")["last_error"]


def test_stored_error_text_is_capped_and_printable(agent, listener):
    token = armed_for_inspection(agent)
    error = "\x1b[31mdisk on fire\x1b[0m\u202e\r\n" + ("\x1b[2J\x07" + "x" * 1000) * 920
    body = json.dumps({"action": "inspect", "ok": False, "error": error, "seconds": 1}).encode()
    assert http(listener, "/v1/ramdisk/n1/result?token=" + token, body)[0] == 200
    got = agent.find("nodes", "n1")
    text = got["last_error"]
    assert got["provision_state"] == "failed" and "disk on fire" in text
    assert len(text) <= 2048 and text.isprintable() and "\\x1b[31m" in text and "\\u202e" in text
    assert all(len(h["detail"] or "") <= 2048 for h in got["history"])
    # the API's last_error is capped alike
    agent.put("nodes", "n1", {"provision_state": "failed", "last_error": "api " + "y" * 4000})
    text = agent.find("nodes", "n1")["last_error"]
    assert text.startswith("api yyy") and len(text) <= 2048


# ----------------------------------------------------------------- disk full

def test_a_full_state_directory_is_reported_as_such(tmp_path):
    state = tmp_path / "small"
    state.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(state)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        registry = Registry(str(state))
        registry.update("n1", {"macs": [MAC], "action": {"action": "inspect"}, "token": "t" * 32,
                               "armed_at": time.time()}, create=True)
        server = provisioning.start(Config(state_dir=str(state), provisioning_listen="127.0.0.1:0",
                                           image_store=str(tmp_path / "images")), registry)
        with open(state / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        with pytest.raises(Exception) as info:
            for i in range(50):
                registry.update("n1", {"properties": {"blob": "x" * 65536, "i": i}})
        assert str(info.value).startswith("the undercloud's state directory is full (%s)" % state)
        assert "rollback" not in str(info.value) and getattr(info.value, "status", None) == 507
        # a ramdisk's report then: a 503 (it retries), the node as it was
        report = json.dumps({"action": "inspect", "ok": False, "error": "x" * 200000}).encode()
        assert http(server, "/v1/ramdisk/n1/result?token=" + "t" * 32, report)[0] == 503
        assert registry.get("n1")["token"] == "t" * 32
        server.shutdown()
        server.server_close()
        os.unlink(state / "filler")
        assert registry.get("n1")["macs"] == [MAC], "the registry survives"
    finally:
        subprocess.run(["umount", str(state)])


# ---------------------------------------------------------- ramdisk's report

# The stubs ramdisk/init's functions run against: simulated time (sleep advances the
# clock), and a wget that fails with $FAILURE until the clock reaches $UP_AT.
RAMDISK_STUBS = r'''
STATE=%s CLOCK=$STATE/clock
echo 0 > $CLOCK
log() { echo "log: $*"; }
set_step() { :; }
die_unreported() { echo "rc=1 calls=$(cat $STATE/calls) at=$(now)"; exit 1; }
now() { cat $CLOCK; }
sleep() { echo $(( $(cat $CLOCK) + $1 )) > $CLOCK; }
timeout() { shift; "$@"; }
wget() {
    n=$(cat $STATE/calls 2>/dev/null || echo 0); echo $((n + 1)) > $STATE/calls
    if [ "$(now)" -ge "$UP_AT" ]; then return 0; fi
    echo "wget: $FAILURE" >&2; return 1
}
T0=0 DEADLINE=$1 UP_AT=$2 FAILURE=$3 API=http://x NODE=n1 TOKEN=t
rm -f $STATE/calls
'''


def init_part(begin, end):
    """The text of ramdisk/init from ``begin`` to the end of the block ``end`` closes."""
    with open(INIT) as fh:
        text = fh.read()
    start = text.index(begin)
    return text[start:text.index(end, start) + len(end)]


def ramdisk_run(tmp_path, body):
    """A runner of ``body`` after the stubs: run(deadline, up_at[, failure]) -> last line."""
    script = RAMDISK_STUBS % tmp_path + body

    def run(deadline, up_at, failure="can't connect to remote host: Connection refused"):
        out = subprocess.run(["sh", "-c", script, "sh", str(deadline), str(up_at), failure],
                             capture_output=True, text=True, timeout=20).stdout
        return out.strip().splitlines()[-1]
    return run


def test_the_ramdisk_retries_its_result_until_its_deadline(tmp_path):
    """ramdisk/init's post: an undercloud away for minutes (a restart) loses no result;
    a stale token (4xx) is not retried. Time is simulated: sleep advances the clock."""
    run = ramdisk_run(tmp_path, init_part("post() {", "\n}\n") + r'''
echo '{}' > $STATE/r.json
post result $STATE/r.json; echo "rc=$? calls=$(cat $STATE/calls) at=$(now)"
''')
    # the undercloud is back after 5 minutes: reported
    assert run(1800, 300).startswith("rc=0 ")
    # never back: given up at the deadline, not before
    rc, calls, at = run(600, 10 ** 6).split()
    assert rc == "rc=1" and 570 <= int(at.split("=")[1]) <= 600
    # a 403 (the token is stale): one try
    assert run(1800, 10 ** 6, "server returned error: HTTP/1.1 403 Forbidden") == "rc=1 calls=1 at=0"


def test_the_ramdisk_waits_for_its_instructions_until_its_deadline(tmp_path):
    """ramdisk/init's instructions fetch: an undercloud restarting while a node boots is
    waited for; a refusal (4xx) is tried 10 times, then the ramdisk gives up."""
    run = ramdisk_run(tmp_path, init_part("set_step instructions", "\ndone\n") + r'''
echo "rc=0 calls=$(cat $STATE/calls) at=$(now)"
''')
    assert run(3600, 90).startswith("rc=0 "), "back after 90 s"
    rc, calls, at = run(150, 10 ** 6).split()
    assert rc == "rc=1" and 140 <= int(at.split("=")[1]) <= 150
    assert run(3600, 10 ** 6, "server returned error: HTTP/1.1 403 Forbidden").startswith("rc=1 calls=10 ")
