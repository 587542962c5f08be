#!/usr/bin/env bash
# ansible-test sanity on a copy of the collection laid out as ansible-test wants it
# (ansible_collections/<namespace>/<name>), with this machine's Python only.
set -euo pipefail
cd "$(dirname "$0")/.."

# ansible-test bootstraps pip in its test venvs with a script it downloads from a
# host outside the package registries; give it the stand-in in tests/sanity/.
at=$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -o "pip='[0-9.]*'" "$at/_internal/python_requirements.py" | head -1 | cut -d"'" -f2)
mkdir -p ~/.ansible/test/cache
cp tests/sanity/get_pip.py ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/stackwright/cloud
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest"/
cd "$dest"
py=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# pylint is left out: it needs a pinned toolchain of its own; ansible-lint and the tests cover the rest.
ansible-test sanity --python "$py" --skip-test pylint --color no "$@"
