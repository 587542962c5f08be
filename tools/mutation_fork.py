"""A fork server for tools/mutation.py: mutmut runs its test command once per mutant,
and a fresh Python spends most of that run importing pytest, Ansible and pyghmi. The
server imports those once; for each mutant the client asks it to fork, and the child
runs pytest (which imports the project's modules, mutated, from the copy on disk).

    python tools/mutation_fork.py serve SOCKET      # tools/mutation.py starts it
    python tools/mutation_fork.py run SOCKET ARGS   # mutmut's runner: pytest ARGS
    python tools/mutation_fork.py exec ARGS         # the same in a new Python (--no-fork)

Both exit 1 for any failure: mutmut 2 counts only exit status 1 as a killed mutant,
and a mutant that breaks an import makes pytest exit 2 or 4 (an error, not a failed
test), which mutmut would count as a survivor.

Only the standard library is imported before the mode is known: the client starts
fast. The server never imports the project's own modules (they are what mutmut
changes); a child that runs too long is ended by an alarm."""

import json
import os
import socket
import sys

# third-party modules the tests import: loaded once, shared by every child
PRELOAD = ("pytest", "ansible.module_utils.basic", "ansible.errors", "yaml", "pyghmi.ipmi.command",
           "pyghmi.ipmi.bmc", "sqlite3", "http.server", "urllib.request", "difflib", "ipaddress", "tarfile")
CHILD_SECONDS = 60


def serve(path):
    import atexit
    import importlib
    import signal
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import pytest
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        conn, _ = server.accept()
        with conn:
            request = json.loads(conn.makefile("r").readline())
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.alarm(CHILD_SECONDS)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                os.chdir(request["cwd"])
                sys.path[:0] = [request["cwd"]]
                try:
                    code = pytest.main(request["args"])
                except SystemExit as exc:
                    code = exc.code
                except BaseException:
                    code = 3
                try:
                    atexit._run_exitfuncs()  # the tests' temporary directories
                finally:
                    os._exit(int(code or 0) if not isinstance(code, str) else 1)
            try:
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                conn.sendall(b"%d\n" % (code if code >= 0 else 128 - code))
            except OSError:
                pass


def run(path, args):
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall((json.dumps({"cwd": os.getcwd(), "args": args}) + "\n").encode())
    answer = client.makefile("r").readline().strip()
    return 0 if answer == "0" else 1


def execute(args):
    import subprocess
    return 0 if subprocess.run([sys.executable, "-m", "pytest"] + args).returncode == 0 else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["run"]:
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    elif sys.argv[1:2] == ["exec"]:
        sys.exit(execute(sys.argv[2:]))
    else:
        sys.exit("usage: mutation_fork.py serve SOCKET | run SOCKET PYTEST-ARGS... | exec PYTEST-ARGS...")
