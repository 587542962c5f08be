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

missing() { # PACKAGE... -> those not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "ok installed" >/dev/null || echo "$p"
  done
}
# DPkg::Lock::Timeout does not cover the package lists' lock (apt 2.6): a fresh
# machine's unattended-upgrades holds it for minutes, so try again, bounded.
apt_update() {
  local try
  for try in $(seq 30); do
    apt-get -o DPkg::Lock::Timeout=600 update -qq && return 0
    log "apt-get update failed (another apt holding its lock?): again in 10 s ($try/30)"
    sleep 10
  done
  return 1
}
apt_install() { # [APT-GET-OPTION...] PACKAGE...
  log "apt: installing ${*##-*}"
  export DEBIAN_FRONTEND=noninteractive
  [ -n "${apt_updated:-}" ] || { apt_update; apt_updated=1; }
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null  # waits for dpkg's lock, bounded
}
mapfile -t pkgs < <(missing $(grep -v '^\s*#' tools/apt-packages.txt))
[ ${#pkgs[@]} -eq 0 ] || apt_install --no-install-recommends "${pkgs[@]}"
# The tests drive the dashboard check's browser: installed as the validate role
# installs it on a controller (with its recommends), so both meet the same browser.
if $want_test; then
  mapfile -t pkgs < <(missing chromium chromium-driver)
  [ ${#pkgs[@]} -eq 0 ] || apt_install "${pkgs[@]}"
fi

# requirements.txt: the collection's own needs; -lab: this controller's Ansible and
# the lab's; -test: the test tools and the build stage's (antsibull, ansible-builder)
req=requirements-lab.txt
$want_test && req=requirements-test.txt
stamp=.venv/.installed-$(cat requirements.txt requirements-lab.txt "$req" agent/pyproject.toml cli/pyproject.toml |
  sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  log "python: creating .venv from $req"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r "$req"
  .venv/bin/pip install -q -e ./agent -e ./cli
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# Ansible finds the collection through ansible.cfg's collections_path; the venv's
# Ansible, and so the stackwright command (it asks Ansible's collection loader),
# from anywhere: Ansible also looks in ansible_collections/ on its Python's path.
mkdir -p .collections/ansible_collections/stackwright
ln -sfn ../../.. .collections/ansible_collections/stackwright/cloud
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$site/ansible_collections/stackwright"
ln -sfn "$root" "$site/ansible_collections/stackwright/cloud"
log "ready: $(.venv/bin/ansible --version | sed -n 1p), collection stackwright.cloud from $root, the CLI .venv/bin/stackwright"
