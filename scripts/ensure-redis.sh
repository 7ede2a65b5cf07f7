#!/usr/bin/env bash
# Makes sure `redis-server` is available for the multi-node tests and benchmarks: prints its
# path. Looks at $REDIS_SERVER, then `redis-server` on PATH; installs Debian's redis-server
# package when neither is there, without starting its service: the tests start their own
# servers on free loopback ports and stop them by PID. Also installs Debian's openssl when
# the command is missing: the TLS test makes its server's certificates with it.
set -euo pipefail

PACKAGES=()
if ! command -v openssl >/dev/null 2>&1; then
    PACKAGES+=(openssl)
fi
if [[ -z "${REDIS_SERVER:-}" ]] && ! command -v redis-server >/dev/null 2>&1; then
    PACKAGES+=(redis-server)
fi
if [[ ${#PACKAGES[@]} -gt 0 ]]; then
    echo "==> installing Debian's ${PACKAGES[*]}" >&2
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi
    $SUDO apt-get update -qq >&2
    # RUNLEVEL=1 keeps invoke-rc.d from starting the package's service.
    $SUDO env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
        apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi
if [[ -n "${REDIS_SERVER:-}" ]]; then
    echo "$REDIS_SERVER"
else
    command -v redis-server
fi
