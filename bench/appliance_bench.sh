#!/usr/bin/env bash
# Appliance timings (issue 7, "Performance"): the converge of bare guests (target < 10 min) and the
# idempotence re-run (target < 90 s with changed=0), on the molecule guests, next to a floor measured
# in the same run on the same guests: tasks that do nothing but run a module (ansible.builtin.ping) on
# web1 and db1 at once, through the same connection, i.e. what Ansible itself costs per task on this
# machine. A shared virtual machine changes speed by 2x within hours; the re-run's cost per task
# against the floor's is the figure the roles control (below 1: many tasks skip, or run on one guest).
#
#   bench/appliance_bench.sh          destroy, create (and prepare), then time converge, idempotence, floor; destroy
#   KEEP=1 bench/appliance_bench.sh   leaves the converged guests up (e.g. for bench/web_load.sh)
#
# Needs what `make test-infra` installs (the venv with molecule, podman, the guest image); molecule's
# own output goes to a log whose path is printed. Figures are printed, never asserted.
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
export CONTAINERS_CONF=$HERE/containers.conf
export PATH=$HERE/.venv/bin:$PATH
command -v molecule >/dev/null && command -v podman >/dev/null \
  || { echo "molecule or podman missing: run 'make test-infra' once first" >&2; exit 2; }

log=$(mktemp /tmp/tsunagu-appliance-bench.XXXXXX.log)
floor_dir=$(mktemp -d /tmp/tsunagu-appliance-floor.XXXXXX)
cleanup() {
  rm -rf "$floor_dir"
  [ "${KEEP:-0}" = 1 ] || molecule destroy >>"$log" 2>&1 || true
}
trap cleanup EXIT
echo "appliance timings on the molecule guests; molecule's output: $log"

step() {  # $1 = label, rest = command; prints the label, runs the command into the log, sets $seconds
  local label=$1 started
  shift
  printf '  %-34s' "$label ..."
  started=$(date +%s.%N)
  echo "=== $label: $*" >>"$log"
  if ! "$@" >>"$log" 2>&1; then
    echo " FAILED (see $log)"
    exit 1
  fi
  seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo " ${seconds} s"
}

scripts/build-guest-image.sh >>"$log" 2>&1
step "destroy old guests" molecule destroy
step "create and prepare guests" molecule create  # prepare: Pebble on acme1
step "converge bare guests" molecule converge
converge_s=$seconds
mark=$(wc -l <"$log")
step "idempotence re-run" molecule idempotence
idempotence_s=$seconds
# the re-run's task headers; molecule itself fails the step above when anything changed
tasks=$(tail -n +"$mark" "$log" | sed 's/\x1b\[[0-9;]*m//g' | grep -c 'TASK \[')

floor_tasks=${FLOOR_TASKS:-60}
{
  echo "- name: Floor, $floor_tasks tasks that do nothing"
  echo "  hosts: all"
  echo "  gather_facts: false"
  echo "  tasks:"
  for i in $(seq 1 "$floor_tasks"); do
    printf '    - name: Nothing %d\n      ansible.builtin.ping:\n' "$i"
  done
} >"$floor_dir/floor.yml"
floor() {
  ANSIBLE_CONNECTION_PLUGINS=$HERE/molecule/default/plugins/connection ANSIBLE_PIPELINING=true \
    ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 \
    ansible-playbook -i tsunagu-web1,tsunagu-db1, -c tsunagu_podman "$floor_dir/floor.yml"
}
step "floor: $floor_tasks no-op tasks" floor
floor_s=$seconds

awk -v c="$converge_s" -v i="$idempotence_s" -v f="$floor_s" -v t="$tasks" -v n="$floor_tasks" 'BEGIN {
  printf "converge of bare guests: %.1f s (target < 600 s: %s)\n", c, (c < 600) ? "met" : "NOT met"
  printf "idempotence re-run, changed=0: %.1f s (target < 90 s: %s), %d tasks, %.0f ms a task\n",
         i, (i < 90) ? "met" : "NOT met", t, 1000 * i / t
  printf "floor, %d no-op tasks on web1 and db1: %.1f s, %.0f ms a task\n", n, f, 1000 * f / n
  printf "re-run / floor, per task: %.2f\n", (i / t) / (f / n)
}'
