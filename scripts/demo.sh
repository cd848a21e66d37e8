#!/usr/bin/env bash
# Plan (and optionally apply) examples/eksmgr.toml against a local AWS emulator.
#
#   bash scripts/demo.sh [--init] [--apply] [--shell] [--keep] [extra plan args...]
#
#   --init    write the configuration with `eksmgr init` from the emulated organization
#             (EKS OU `eks`, hub account `hub`) instead of copying examples/eksmgr.toml
#   --apply   also run `apply --auto-approve`, then plan again (expect no changes)
#   --shell   then open a shell in the work directory, the emulator still running and
#             eksmgr on PATH, to try any command; the emulator stops when the shell exits
#   --keep    keep the work directory (config + state) and print where it is
#   anything else is passed to each `eksmgr plan` (e.g. --json, --detailed-exitcode)
#
#   EKSMGR_BIN=path   use that eksmgr binary instead of building one
#
# Steps: set up the emulator's virtualenv, build eksmgr, start the emulator on a free port
# (stopped on exit), seed an organization (hub + 2 spokes), copy the example config with
# its placeholder ids replaced by the seeded ones (or write one with `eksmgr init`), and run
# eksmgr against it. The emulator is moto's server run through
# scripts/emulator/eksmgr_moto.py, which adds the EKS access-entry and
# pod-identity-association APIs moto lacks.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

apply=false
keep=false
init=false
shell=false
plan_args=()
for arg in "$@"; do
    case "$arg" in
        --apply) apply=true ;;
        --keep) keep=true ;;
        --init) init=true ;;
        --shell) shell=true ;;
        -h | --help)
            sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) plan_args+=("$arg") ;;
    esac
done

say() { printf '\n==> %s\n' "$*" >&2; }

say "setting up the emulator"
# Its last line is the virtualenv's moto_server; the emulator runs on the python beside it.
moto_server="$(bash scripts/setup-emulator.sh | tail -n 1)"
python="$(dirname "$moto_server")/python"

if [[ -n "${EKSMGR_BIN:-}" ]]; then
    eksmgr="$EKSMGR_BIN"
else
    say "building eksmgr"
    cargo build -q -p eksmgr
    target_dir="${CARGO_TARGET_DIR:-$repo_root/target}"
    eksmgr="$target_dir/debug/eksmgr"
fi
[[ -x "$eksmgr" ]] || { echo "demo: $eksmgr not found after the build" >&2; exit 1; }

workdir="$(mktemp -d "${TMPDIR:-/tmp}/eksmgr-demo.XXXXXX")"
moto_pid=""
cleanup() {
    if [[ -n "$moto_pid" ]]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    if [[ "$keep" == true ]]; then
        echo "demo: work directory kept at $workdir" >&2
    else
        rm -rf "$workdir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The same environment the e2e harness gives eksmgr (tests/support: env_for).
: >"$workdir/aws-config"
: >"$workdir/aws-credentials"
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^AWS_' || true)
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE="$workdir/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$workdir/aws-credentials"
export NO_COLOR=1

port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
endpoint="http://127.0.0.1:$port"
say "starting the emulator (moto) at $endpoint (log: $workdir/moto_server.log)"
# The emulator's calendar decides which Kubernetes versions EKS offers: pinned, so the demo
# does not age (override EKSMGR_EMULATOR_TODAY to try another day).
EKSMGR_EMULATOR_TODAY="${EKSMGR_EMULATOR_TODAY:-2026-12-05}" \
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$python" scripts/emulator/eksmgr_moto.py -H 127.0.0.1 -p "$port" \
    >"$workdir/moto_server.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL="$endpoint"

"$python" - "$endpoint" "$moto_pid" <<'PY' || { tail -n 20 "$workdir/moto_server.log" >&2; exit 1; }
import os, sys, time, urllib.request
endpoint, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).read(1)
        sys.exit(0)
    except Exception:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("demo: the emulator exited at start")
    if time.monotonic() > deadline:
        sys.exit("demo: the emulator did not answer within 30s")
    time.sleep(0.1)
PY

say "seeding an organization (hub + 2 spokes)"
# A new organization (--fresh): eksmgr's plan enables the SCP policy type and StackSets'
# trusted access itself.
seed_json="$("$python" scripts/seed_emulator.py --endpoint "$endpoint" --spokes 2 --fresh)"
read -r management hub eks_ou spoke1 spoke2 < <("$python" -c '
import json, sys
s = json.loads(sys.argv[1])
print(s["management_account_id"], s["hub_account_id"], s["eks_ou_id"], *s["spoke_account_ids"][:2])
' "$seed_json")
echo "$seed_json" >&2

config="$workdir/eksmgr.toml"

run() {
    say "eksmgr $*"
    "$eksmgr" -c "$config" "$@" </dev/null
}

status=0
if [[ "$init" == true ]]; then
    # The flags give what a person would answer at init's prompts on a terminal.
    run init --eks-ou eks --hub-account hub || exit $?
else
    sed -e "s/111111111111/$management/g" \
        -e "s/222222222222/$hub/g" \
        -e "s/ou-abcd-11111111/$eks_ou/g" \
        -e "s/333333333333/$spoke1/g" \
        -e "s/444444444444/$spoke2/g" \
        examples/eksmgr.toml >"$config"
fi
run plan ${plan_args[@]+"${plan_args[@]}"} || status=$?
if [[ "$apply" == true && ( "$status" == 0 || "$status" == 2 ) ]]; then
    status=0
    run apply --auto-approve || status=$?
    if [[ "$status" == 0 ]]; then
        run plan ${plan_args[@]+"${plan_args[@]}"} || status=$?
    fi
fi
if [[ "$shell" == true ]]; then
    say "a shell in $workdir; the emulator runs at $AWS_ENDPOINT_URL until you exit it"
    cat >&2 <<MSG
    eksmgr is on PATH and ./eksmgr.toml is the configuration; try:
      eksmgr whoami
      eksmgr plan
      eksmgr apply
      eksmgr state list
      eksmgr graph --format mermaid
    The organization: management $management, hub $hub, EKS OU $eks_ou, spokes $spoke1 $spoke2.
MSG
    (cd "$workdir" && PATH="$(dirname "$eksmgr"):$PATH" "${SHELL:-bash}" -i) || true
fi
exit "$status"
