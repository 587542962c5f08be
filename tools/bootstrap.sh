#!/usr/bin/env bash
# Make this machine a Stackwright controller and lab host: Debian packages, a
# virtualenv in .venv with the pinned Python dependencies and the stackwright CLI (and test tools with
# --test), and the collection visible to Ansible from this checkout.
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
want_test=false
[ "${1:-}" = "--test" ] && want_test=true

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "bootstrap: run as root (it installs Debian packages and manages namespaces, VMs and LVM)" >&2
  exit 1
fi

mapfile -t pkgs < <(grep -v '^\s*#' tools/apt-packages.txt | grep -v '^\s*$')
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

req=requirements.txt
$want_test && req=requirements-test.txt
stamp=.venv/.installed-$(cat requirements.txt "$req" agent/pyproject.toml cli/pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "python: creating .venv from $req"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r "$req"
  .venv/bin/pip install -q -e ./agent -e ./cli
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Ansible finds the collection through ansible.cfg's collections_path.
mkdir -p .collections/ansible_collections/stackwright
ln -sfn ../../.. .collections/ansible_collections/stackwright/cloud
log "ready: $(.venv/bin/ansible --version | head -1), collection stackwright.cloud from $root, the CLI .venv/bin/stackwright"
