#!/usr/bin/env bash
# The test command: installs what it needs, then runs the fast checks first and
# the scenarios that start VMs last. Usage: tests/run.sh [stage...]
# Stages: lint sanity build unit molecule (default: all, in that order).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
tools/bootstrap.sh --test || exit 1
export PATH=$root/.venv/bin:$PATH
export ANSIBLE_CONFIG=$root/ansible.cfg
export PYTHONDONTWRITEBYTECODE=1
# CI starts from nothing: the image builders' caches live in the clone, so a run
# never reuses what an earlier run built (a developer's default cache is kept).
if [ "${CI:-}" = true ]; then
  export STACKWRIGHT_IMAGE_CACHE=$root/.cache/images
  export STACKWRIGHT_RAMDISK_CACHE=$STACKWRIGHT_IMAGE_CACHE/ramdisk
  export STACKWRIGHT_OVERCLOUD_CACHE=$STACKWRIGHT_IMAGE_CACHE/overcloud-base
fi
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(lint sanity build unit molecule)

passed=0 failed=0 failures=()
# Each stage's output is also kept, so the end of the run can repeat why a stage
# failed: CI keeps only the last lines, and a scenario's cleanup fills them.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
stage() {
  local name=$1; shift
  local t0=$SECONDS
  printf '\n\033[1m==> %s\033[0m\n' "$name"
  if "$@" 2>&1 | tee "$logs/${name%% *}.log"; then
    passed=$((passed + 1)); printf '\033[32m--- %s passed (%ds)\033[0m\n' "$name" $((SECONDS - t0))
  else
    failed=$((failed + 1)); failures+=("$name"); printf '\033[31m--- %s FAILED (%ds)\033[0m\n' "$name" $((SECONDS - t0))
  fi
}

# The lines that say why: Ansible's failed tasks (with the task's name), pytest's
# short summary and assertion lines, Molecule's errors.
why() {
  sed 's/\x1b\[[0-9;]*m//g; s/^[ \t│]*//' "$logs/${1%% *}.log" |
    grep -E -B3 '^(fatal:|failed:|FAILED |ERROR |E  |build: )|^CRITICAL|Ansible return code' |
    grep -v -E '^(--|\*+|)$' | cut -c1-400 | tail -n 60
}

lint() {
  # grep -q leaves at its first match: under pipefail the writer's SIGPIPE can
  # fail the pipeline although the line was there (seen with cpio --help)
  if git grep -nE '[|][[:space:]]*grep[[:space:]]+-[[:alpha:]]*q' -- '*.sh' '*.yml' '*.j2'; then
    echo "lint: pipe into grep without -q (redirect to /dev/null): -q can fail a pipefail pipeline"; return 1
  fi &&
  python -m pyflakes agent cli plugins tests &&
  ansible-lint --profile production --offline -q &&
  for p in playbooks/*.yml; do ansible-playbook --syntax-check -i inventories/lab "$p" >/dev/null || return 1; done
}

sanity() { tests/sanity.sh; }

build() { tests/build.sh; }

unit() { python -m pytest -q --durations=15; }

molecule_all() {
  local s
  for s in ${MOLECULE_SCENARIOS:-agent overcloud lab provision}; do
    # no state from an earlier run: Molecule would skip prepare
    local t0=$SECONDS
    molecule reset -s "$s" >/dev/null || return 1
    molecule test -s "$s" || return 1
    # where the stage's time goes, scenario by scenario (the CI budget)
    printf '\033[32m--- molecule %s passed (%ds)\033[0m\n' "$s" $((SECONDS - t0))
  done
}

for s in "${stages[@]}"; do
  case $s in
    lint) stage lint lint ;;
    sanity) stage sanity sanity ;;
    build) stage build build ;;
    unit) stage pytest unit ;;
    molecule) stage molecule molecule_all ;;
    *) echo "unknown stage $s"; exit 2 ;;
  esac
done
echo
for f in "${failures[@]}"; do
  printf '\n\033[1m==> why %s failed\033[0m\n' "$f"
  why "$f"
done
[ $failed -eq 0 ] || echo "failed stages: ${failures[*]}"
echo "stages: $passed passed, $failed failed"
[ $failed -eq 0 ]
