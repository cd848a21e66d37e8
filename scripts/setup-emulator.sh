#!/usr/bin/env bash
# Create (idempotently) the Python virtualenv that holds the moto emulator used by the
# end-to-end tests and the demo, then print the path of its `moto_server` executable.
# It also holds cfn-lint, which scripts/check_requests.py runs on the StackSet template
# eksmgr sends (moto's own server and cloudformation extras require cfn-lint>=0.40.0, which
# the pin below satisfies).
#
#   EKSMGR_VENV     where the virtualenv lives (default: <repo>/.venv)
#   EKSMGR_PYTHON   the Python interpreter used to create it (default: python3)
#
# A second run with the pinned version already installed is a fast no-op.
set -euo pipefail

MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${EKSMGR_VENV:-$repo_root/.venv}"
python="${EKSMGR_PYTHON:-python3}"

die() {
    echo "setup-emulator: error: $*" >&2
    exit 1
}

# Fast path: the venv exists and already holds the pinned moto with its server extra, and
# the pinned cfn-lint.
if [[ -x "$venv/bin/python" && -x "$venv/bin/moto_server" ]]; then
    installed="$("$venv/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
try:
    import flask, flask_cors  # noqa: F401  (the [server] extra)
    import cfnlint.runner  # noqa: F401
    print(version("moto"), version("cfn-lint"))
except Exception:
    pass
PY
)"
    if [[ "$installed" == "$MOTO_VERSION $CFN_LINT_VERSION" ]]; then
        echo "$venv/bin/moto_server"
        exit 0
    fi
fi

command -v "$python" >/dev/null 2>&1 \
    || die "'$python' not found; install Python 3 (3.9 or newer) or set EKSMGR_PYTHON"

if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
    echo "setup-emulator: creating virtualenv at $venv" >&2
    # --clear: a leftover venv whose interpreter is gone is rebuilt from scratch.
    "$python" -m venv --clear "$venv" \
        || die "could not create a virtualenv at $venv (on Debian: apt-get install python3-venv)"
fi

echo "setup-emulator: installing moto[server]==$MOTO_VERSION and cfn-lint==$CFN_LINT_VERSION into $venv" >&2
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$venv/bin/python" -m pip install --quiet "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" \
    || die "pip could not install moto[server]==$MOTO_VERSION and cfn-lint==$CFN_LINT_VERSION into $venv (is PyPI reachable?)"

[[ -x "$venv/bin/moto_server" ]] \
    || die "moto_server is missing from $venv/bin after installing moto[server]==$MOTO_VERSION"
"$venv/bin/python" -c 'import cfnlint.runner' >/dev/null 2>&1 \
    || die "cfn-lint is not importable in $venv after installing cfn-lint==$CFN_LINT_VERSION"

echo "$venv/bin/moto_server"
