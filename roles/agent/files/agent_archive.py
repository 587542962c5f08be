"""The agent's version, and the archive roles/agent installs it from.

Usage: agent_archive.py AGENT_DIR [--archive]

Prints one JSON object: {"sha256": SOURCE_SHA256, "files": N, "archive": PATH|null, "tmpdir": DIR|null}.

SOURCE_SHA256 is the sha256 of the lines "<sha256 of the file>  <path>\\n" (sha256sum's
format) of every regular file under AGENT_DIR/stackwright_agent, paths relative to
AGENT_DIR, sorted bytewise, __pycache__ and *.pyc left out. The overcloud image carries
the same value in <agent_install_dir>/SOURCE_SHA256
(roles/image_build/files/overcloud/build-image.sh computes it with find | sha256sum).

--archive also writes a gzip'd tar into a new temporary directory (TMPDIR), which the
caller removes: stackwright_agent/ (directories 0755, files 0644, root:root, stamped with
the current time so that Python's bytecode caches of older files never pass for them)
and SOURCE_SHA256 as the last member, so an interrupted extraction leaves the old marker.
"""

import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import time

PACKAGE = "stackwright_agent"


def source_files(agent_dir):
    """Relative paths of the package's regular files, sorted bytewise."""
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(agent_dir, PACKAGE)):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if name == "__pycache__" or name.endswith(".pyc"):
                continue
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            found.append(os.path.relpath(path, agent_dir))
    return sorted(found, key=lambda p: p.encode())


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_sha256(agent_dir, files):
    lines = "".join("%s  %s\n" % (file_sha256(os.path.join(agent_dir, f)), f) for f in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def write_archive(agent_dir, files, digest, path):
    now = int(time.time())

    def info(name, kind, mode, size=0):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.mtime = kind, mode, size, now
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    with tarfile.open(path, "w:gz") as tar:
        dirs = sorted({os.path.dirname(f) for f in files} | {PACKAGE}, key=lambda p: p.encode())
        done = set()
        for d in dirs:  # every directory (and its parents) before its files
            parts = d.split(os.sep)
            for i in range(1, len(parts) + 1):
                sub = os.sep.join(parts[:i])
                if sub not in done:
                    done.add(sub)
                    tar.addfile(info(sub, tarfile.DIRTYPE, 0o755))
        for f in files:
            with open(os.path.join(agent_dir, f), "rb") as src:
                data = src.read()
            tar.addfile(info(f, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        marker = (digest + "\n").encode()
        tar.addfile(info("SOURCE_SHA256", tarfile.REGTYPE, 0o644, len(marker)), io.BytesIO(marker))


def main(argv):
    args = [a for a in argv if a != "--archive"]
    if len(args) != 1:
        sys.stderr.write("usage: agent_archive.py AGENT_DIR [--archive]\n")
        return 2
    agent_dir = os.path.realpath(args[0])
    files = source_files(agent_dir)
    if not files:
        sys.stderr.write("agent_archive.py: no files under %s\n" % os.path.join(agent_dir, PACKAGE))
        return 1
    digest = source_sha256(agent_dir, files)
    result = {"sha256": digest, "files": len(files), "archive": None, "tmpdir": None}
    if "--archive" in argv:
        tmpdir = tempfile.mkdtemp(prefix="stackwright-agent.")
        result["tmpdir"] = tmpdir
        result["archive"] = os.path.join(tmpdir, "stackwright-agent-%s.tar.gz" % digest[:12])
        write_archive(agent_dir, files, digest, result["archive"])
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
