#!/usr/bin/env bash
# Validates deploy/ offline: the plain manifests of deploy/kubernetes/spin-cli against the
# Kubernetes 1.30 schemas, Containerfile, deploy/spin-up.sh and spin.toml; the SpinKube
# manifests of deploy/kubernetes against the SpinApp CRD (../shared/reference/spinkube, or
# $SPINAPP_CRD) and spin.toml; the Spin runtime configs (deploy/runtime-config, and those the
# manifests' Secrets hold); with a self-check that broken copies are refused
# (tests/deploy/validate_manifests.py says what is checked). No cluster and no network: the
# schemas come with kubernetes-validate. Installs the pinned packages of
# tests/deploy/requirements.txt (jsonschema, PyYAML, kubernetes-validate) into
# target/manifests-venv when missing or out of date. Needs Python 3.11+ (tomllib).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/manifests-venv
REQUIREMENTS=tests/deploy/requirements.txt

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "validate-manifests: needs Python 3.11 or newer (tomllib), found $(python3 --version 2>&1)" >&2
    exit 1
fi
if ! cmp -s "$REQUIREMENTS" "$VENV/requirements.txt" 2>/dev/null; then
    echo "validate-manifests: installing $REQUIREMENTS into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    cp "$REQUIREMENTS" "$VENV/requirements.txt"
fi
exec "$VENV/bin/python" tests/deploy/validate_manifests.py
