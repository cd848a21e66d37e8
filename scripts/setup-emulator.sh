#!/usr/bin/env bash
# Create (idempotently) the Python virtualenv that holds the moto emulator used by the
# end-to-end tests and the demo, then print the path of its `moto_server` executable.
# It also holds cfn-lint, which scripts/check_requests.py runs on the StackSet template
# eksmgr sends (moto's own server and cloudformation extras require cfn-lint>=0.40.0, which
# the pin below satisfies).
# It also holds the AWS CLI v1 (`aws`, from PyPI's awscli), whose `aws eks get-token` is the
# exec credential plugin of the kubeconfigs the tests give kubectl (the emulated clusters'
# Kubernetes API, scripts/emulator/kube_api.py).  awscli 1.46 carries its own copy of
# botocore (imported as `botocore` only inside the `aws` process), so it leaves the botocore
# 1.44.x that moto pulls in, and that scripts/check_requests.py reads its models from, alone.
#
#   EKSMGR_VENV     where the virtualenv lives (default: <repo>/.venv)
#   EKSMGR_PYTHON   the Python interpreter used to create it (default: python3)
#
# A second run with the pinned version already installed is a fast no-op.
set -euo pipefail

MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"
AWSCLI_VERSION="1.46.3"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EKSMGR_VENV:-$repo_root/.venv}"
python="${EKSMGR_PYTHON:-python3}"

die() {
    echo "setup-emulator: error: $*" >&2
    exit 1
}

# Fast path: the venv exists and already holds the pinned moto with its server extra, the
# pinned cfn-lint and the pinned awscli.
if [[ -x "$venv/bin/python" && -x "$venv/bin/moto_server" && -x "$venv/bin/aws" ]]; then
    installed="$("$venv/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
try:
    import flask, flask_cors  # noqa: F401  (the [server] extra)
    import cfnlint.runner  # noqa: F401
    print(version("moto"), version("cfn-lint"), version("awscli"))
except Exception:
    pass
PY
)"
    if [[ "$installed" == "$MOTO_VERSION $CFN_LINT_VERSION $AWSCLI_VERSION" ]]; then
        echo "$venv/bin/moto_server"
        exit 0
    fi
fi

command -v "$python" >/dev/null 2>&1 \
    || die "'$python' not found; install Python 3 (3.10 or newer: moto, botocore and awscli need it) or set EKSMGR_PYTHON"

if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
    echo "setup-emulator: creating virtualenv at $venv" >&2
    # --clear: a leftover venv whose interpreter is gone is rebuilt from scratch.
    "$python" -m venv --clear "$venv" \
        || die "could not create a virtualenv at $venv (on Debian: apt-get install python3-venv)"
fi

echo "setup-emulator: installing moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION and awscli==$AWSCLI_VERSION into $venv" >&2
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$venv/bin/python" -m pip install --quiet "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    "awscli==$AWSCLI_VERSION" \
    || die "pip could not install moto[server]==$MOTO_VERSION, cfn-lint==$CFN_LINT_VERSION and awscli==$AWSCLI_VERSION into $venv (is PyPI reachable?)"

[[ -x "$venv/bin/moto_server" ]] \
    || die "moto_server is missing from $venv/bin after installing moto[server]==$MOTO_VERSION"
"$venv/bin/python" -c 'import cfnlint.runner' >/dev/null 2>&1 \
    || die "cfn-lint is not importable in $venv after installing cfn-lint==$CFN_LINT_VERSION"
"$venv/bin/aws" --version >/dev/null 2>&1 \
    || die "aws (awscli==$AWSCLI_VERSION) does not run from $venv/bin"

echo "$venv/bin/moto_server"
