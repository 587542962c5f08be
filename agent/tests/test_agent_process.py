"""The agent as a process: its command-line options are checked before anything is
touched, it never deletes a file that is not its socket, and SIGTERM takes the socket
with it. Real `python -m stackwright_agent` processes; no root needed."""

import os
import signal
import subprocess
import sys
import time

import pytest

from fixtures import ROOT, agent_client

ENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "agent"))


def agent_argv(tmp_path, *extra):
    return [sys.executable, "-m", "stackwright_agent", "--config", str(tmp_path / "none.json"),
            "--state-dir", str(tmp_path / "state")] + list(extra)


def start(tmp_path, sock, *extra, log=None):
    """A running agent; its log in LOG (a path) when it logs much: nothing reads the pipe
    once it runs, and a full pipe would stop its writes, and so the agent."""
    err = open(log, "w") if log else subprocess.PIPE
    proc = subprocess.Popen(agent_argv(tmp_path, "--socket", sock, *extra), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=err)
    if log:
        err.close()  # the agent has its own copy
    client = agent_client.AgentClient(sock, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/v1/health")
            return proc
        except agent_client.AgentClientError:
            assert proc.poll() is None, open(log).read() if log else proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the agent did not start"
            time.sleep(0.05)


BAD_OPTIONS = [
    (["--provisioning-listen", "nocolon"], "has no port"),
    (["--provisioning-listen", "192.168.24.1:99999"], "is not a port"),
    (["--provisioning-listen", "192.168.24.1:http"], "is not a port"),
    (["--provisioning-listen", "192.168.24.1:"], "is not a port"),
    (["--provisioning-listen", "undercloud:8080"], "is not an IP address"),
    (["--provisioning-listen", "224.0.0.1:8080"], "multicast"),
    (["--provisioning-listen", "192.168.24.1:8080\n"], "is not a port"),
    (["--socket", "agent.sock"], "give an absolute path"),
    (["--socket", "/run/../tmp/agent.sock"], "without '..'"),
    (["--state-dir", "state"], "give an absolute path"),
]


@pytest.mark.parametrize("options, words", BAD_OPTIONS)
def test_bad_options_are_a_clear_error_not_a_traceback(tmp_path, options, words):
    sock = str(tmp_path / "agent.sock")
    argv = agent_argv(tmp_path, *(["--socket", sock] if "--socket" not in options else [])) + options
    if "--provisioning-listen" in options:
        argv += ["--role", "conductor"]
    proc = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("stackwright-agent: ")
    assert words in proc.stderr, proc.stderr
    assert not os.path.exists(sock) and not os.path.exists(tmp_path / "state"), "nothing may be made"


@pytest.mark.parametrize("settings, words", [
    ('{"image_store": 5}', "image_store: expected a path"),
    ('{"socket": "agent.sock"}', "socket 'agent.sock': give an absolute path"),
    ('{"console_log_dir": "/var/log/../tmp"}', "without '..'"),
    ('{"roles": ["conductor"], "provisioning_listen": "0.0.0.0"}', "has no port"),
])
def test_bad_settings_in_the_file_are_a_clear_error(tmp_path, settings, words):
    (tmp_path / "none.json").write_text(settings)
    proc = subprocess.run(agent_argv(tmp_path), env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert words in proc.stderr, proc.stderr


def test_a_regular_file_at_the_socket_path_is_refused_and_kept(tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me\n")
    proc = subprocess.run(agent_argv(tmp_path, "--socket", str(precious)), env=ENV, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "exists and is not a socket" in proc.stderr
    assert precious.read_text() == "keep me\n"


def test_sigterm_removes_the_socket(tmp_path):
    sock = str(tmp_path / "run" / "agent.sock")
    proc = start(tmp_path, sock)
    try:
        assert os.path.exists(sock)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not os.path.exists(sock), "SIGTERM left the socket behind"
        # and the next agent starts on the same path at once
        proc = start(tmp_path, sock)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def status_of(pid):
    """(RSS in MiB, thread count) of a process, from /proc."""
    with open("/proc/%d/status" % pid) as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["Threads"])


def test_the_undercloud_service_stays_small_under_a_hostile_client(tmp_path):
    """The undercloud's agent process itself (registry and provisioning listener) against
    a hostile client: 300 half-sent requests, a 400 MiB Content-Length and 1,000 requests
    for unknown MACs leave it under 100 MiB with its threads bounded, still answering."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sock = str(tmp_path / "run" / "undercloud.sock")
    proc = start(tmp_path, sock, "--provisioning-listen", "127.0.0.1:%d" % port, log=str(tmp_path / "agent.log"))
    try:
        big = socket.create_connection(("127.0.0.1", port), timeout=10)
        big.sendall(b"POST /v1/ramdisk/n1/inspection?token=x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                    % (400 << 20))
        assert big.recv(100).split()[1] == b"413", "refused before a byte of the body"
        big.close()
        held = []
        for _ in range(300):
            conn = socket.create_connection(("127.0.0.1", port), timeout=10)
            conn.sendall(b"GET /boot.ipxe HTTP/1.1\r\nHost: x\r\n")  # never finished
            held.append(conn)
        peak_threads = status_of(proc.pid)[1]
        for conn in held:  # closed by the service: at once beyond its bound, else at its read timeout
            conn.settimeout(15)
            assert conn.recv(100) == b""
            conn.close()
        for i in range(1000):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
                conn.sendall(b"GET /nodes/52-54-00-ff-%02x-%02x.ipxe HTTP/1.0\r\n\r\n" % (i // 256, i % 256))
                assert conn.recv(100).split()[1] == b"404"
        rss, threads = status_of(proc.pid)
        print("undercloud service: RSS %.1f MiB, threads %d (peak %d)" % (rss, threads, peak_threads))
        assert rss < 100 and peak_threads < 100 and threads < 10
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
