#!/usr/bin/env bash
# tests/run.sh's build stage: the collection as a user gets it. Built, installed
# into an empty path and used with no checkout anywhere Ansible looks (the CLI
# installed from it, --version, a check-mode deploy through it, playbooks by FQCN);
# then its docs (ansible-doc, antsibull-docs), its release notes from the changelog
# fragments (antsibull-changelog) and its execution environment (ansible-builder).
# Needs the venv of tools/bootstrap.sh --test on PATH. Each failure says what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "build: $*"; exit 1; }

version=$(python -c 'import yaml; print(yaml.safe_load(open("galaxy.yml"))["version"])')
cli_version=$(PYTHONPATH=cli python -c 'import stackwright_cli; print(stackwright_cli.__version__)')
[ "$cli_version" = "$version" ] || fail "cli/stackwright_cli __version__ is $cli_version, galaxy.yml's version $version"
grep -F -- "stackwright-cloud-$version.tar.gz" execution-environment.yml >/dev/null ||
  fail "execution-environment.yml does not name stackwright-cloud-$version.tar.gz (galaxy.yml's version)"

# --- built and installed where no checkout is
ansible-galaxy collection build --force --output-path "$tmp" >/dev/null || fail "ansible-galaxy collection build"
tarball=$tmp/stackwright-cloud-$version.tar.gz
coll=$tmp/installed/ansible_collections/stackwright/cloud
# no ansible.cfg, only the installed path, and not the venv's link to this checkout
outside() {
  (cd "$tmp" && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH="$tmp/installed" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
    ANSIBLE_HOME="$tmp/ansible-home" PYTHONPATH="$tmp/cli" "$@")
}
outside ansible-galaxy collection install --force -p "$tmp/installed" "$tarball" >/dev/null ||
  fail "ansible-galaxy collection install $tarball"
[ -f "$coll/agent/stackwright_agent/api.py" ] || fail "the agent's source is missing from the tarball"
if tar -tzf "$tarball" | grep -E '^(requirements-(lab|test)\.txt|.*\.egg-info/)'; then
  fail "the tarball ships the checkout's set-up (above)"
fi

# every module's docs render from the install
modules=()
for m in plugins/modules/*.py; do modules+=("stackwright.cloud.$(basename "$m" .py)"); done
outside ansible-doc --json "${modules[@]}" 2>/dev/null | python -c '
import json, sys
docs, want = json.load(sys.stdin), sys.argv[1:]
missing = [m for m in want if not (docs.get(m) or {}).get("doc")]
sys.exit("ansible-doc renders no docs for: %s" % ", ".join(missing) if missing else 0)' "${modules[@]}" ||
  fail "ansible-doc"

# playbooks by FQCN
outside ansible-playbook stackwright.cloud.site --syntax-check >"$tmp/syntax.out" 2>&1 ||
  { cat "$tmp/syntax.out"; fail "ansible-playbook stackwright.cloud.site --syntax-check"; }

# the stackwright command, installed with pip from the collection
python -m pip install --no-deps --target "$tmp/cli" "$coll/cli" >"$tmp/pip.log" 2>&1 ||
  { grep -v 'is ignored' "$tmp/pip.log"; fail "pip install $coll/cli"; }
out=$(outside "$tmp/cli/bin/stackwright" --version) || { echo "$out"; fail "stackwright --version"; }
echo "$out"
grep -F "stackwright $version ($tmp/cli/stackwright_cli)" <<<"$out" >/dev/null ||
  fail "--version: not the command installed from the collection"
grep -F "collection stackwright.cloud $version ($coll)" <<<"$out" >/dev/null ||
  fail "--version: not the installed collection"
# a check-mode deploy through it, on the lab's inventory before there is an undercloud
mkdir "$tmp/inventory"
cp "$coll/inventories/lab/hosts.yml" "$tmp/inventory/"
printf 'plugin: stackwright.cloud.overcloud\nagent_socket: %s/no-undercloud.sock\n' "$tmp" \
  >"$tmp/inventory/overcloud.stackwright.yml"
outside "$tmp/cli/bin/stackwright" -i "$tmp/inventory" --runs-dir "$tmp/runs" --progress lines \
  overcloud deploy --check >"$tmp/deploy.out" 2>&1 || { cat "$tmp/deploy.out"; fail "stackwright overcloud deploy --check"; }
grep -E '^ok in .* \(overcloud deploy\)' "$tmp/deploy.out" >/dev/null || { cat "$tmp/deploy.out"; fail "no summary"; }
if grep -E 'Failed to parse|Unable to parse' "$tmp"/runs/*/*/stdout; then fail "inventory warnings (above)"; fi
echo "check-mode deploy through the installed command: $(tail -n1 "$tmp/deploy.out")"

# --- plugin and role docs by antsibull-docs
(cd "$coll" && antsibull-docs lint-collection-docs --plugin-docs --skip-rstcheck --message-format json . \
  2>/dev/null || true) | python -c '
import json, sys
messages = json.load(sys.stdin)["messages"]
for m in messages:  # paths may be relative to a copy it made
    m["path"] = m["path"].split("/stackwright/cloud/", 1)[-1]
    print("antsibull-docs: %s: %s" % (m["path"], " ".join(m["message"].split())))
sys.exit(1 if messages else 0)' || fail "plugin and role docs (antsibull-docs lint-collection-docs --plugin-docs)"

# --- release notes from the fragments: lint them, and render the coming release
antsibull-changelog lint || fail "antsibull-changelog lint"
antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || fail "changelogs/changelog.yaml"
mkdir "$tmp/notes"
cp -r galaxy.yml changelogs plugins meta "$tmp/notes/"
(cd "$tmp/notes" && antsibull-changelog release --version "$version" --date "$(date +%F)" >"$tmp/notes.log" 2>&1) ||
  { cat "$tmp/notes.log"; fail "antsibull-changelog release $version"; }
python - "$tmp/notes/CHANGELOG.md" changelogs/fragments/*.yml <<'PY' || fail "release notes"
import sys, yaml
notes, fragments = open(sys.argv[1]).read(), [yaml.safe_load(open(f)) or {} for f in sys.argv[2:]]
entries = sum(len(v) for f in fragments for k, v in f.items() if isinstance(v, list))
bullets = sum(1 for line in notes.splitlines() if line.startswith("* "))
print("release notes: %d entries from %d fragments, %d in the notes" % (entries, len(fragments), bullets))
sys.exit(0 if bullets >= entries else "entries of the fragments missing from the notes")
PY
mkdir -p build
cp "$tmp/notes/CHANGELOG.md" "build/release-notes-$version.md"
echo "the coming release's notes: build/release-notes-$version.md"

# --- the execution environment: its build context, and what it takes from the collection
mkdir "$tmp/ee"
cp execution-environment.yml "$tarball" "$tmp/ee/"
(cd "$tmp/ee" && ansible-builder create --output-filename Containerfile -c context >"$tmp/ee.log" 2>&1) ||
  { cat "$tmp/ee.log"; fail "ansible-builder create"; }
[ -f "$tmp/ee/context/Containerfile" ] && [ -f "$tmp/ee/context/_build/stackwright/$(basename "$tarball")" ] ||
  fail "ansible-builder create: no Containerfile, or the collection is not in the context"
python "$tmp/ee/context/_build/scripts/introspect.py" introspect "$tmp/installed" >"$tmp/ee/deps.yml" ||
  fail "ansible-builder's introspection of the installed collection"
python - "$tmp/ee/deps.yml" <<'PY' || fail "the execution environment's dependencies"
import re, sys, yaml
deps = yaml.safe_load(open(sys.argv[1]))
python = {re.split(r"[=<> ]", d)[0] for d in deps["python"]}
print("execution environment, from the collection: python %s; system %s" % (
    " ".join(sorted(python)), " ".join(sorted({d.split()[0] for d in deps["system"]}))))
extra = python & {"ansible-core", "ansible-runner", "selenium", "libvirt-python", "pytest", "molecule"}
if extra:
    sys.exit("not needs of the collection: %s" % ", ".join(sorted(extra)))
sys.exit(0 if {"netaddr", "pyghmi", "openstacksdk"} <= python else "netaddr, pyghmi or openstacksdk missing")
PY
