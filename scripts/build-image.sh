#!/usr/bin/env bash
# Builds the container image of Containerfile (the Spin CLI and the built app; one image for
# the admin node and the edge) with podman or buildah, from the components `spin build`
# wrote. Part of the test command, where it skips with one line (and exits 0) when it cannot
# build here:
#   - neither podman nor buildah is installed;
#   - the base image is not in local storage: the test command pulls nothing (set
#     IMAGE_PULL=1 to let podman/buildah pull it, or pull it yourself).
# Where it can build, it fails when the components are not built or the build fails.
#
# Environment:
#   IMAGE            the tag (default localhost/api-keys-spin-cli:<version of spin.toml>)
#   BASE_IMAGE       the Containerfile's base (default: the Containerfile's, Debian 12 slim)
#   IMAGE_PULL=1     pull the base image when it is not in local storage
#   IMAGE_ISOLATION  the isolation of the build's RUN steps (default chroot, which needs no
#                    cgroup delegation and works inside containers and VMs such as CI's;
#                    oci for podman's and buildah's default)
#   SPIN_BIN         the Spin CLI to put in the image (default: scripts/ensure-spin.sh's)
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
    echo "image build skipped: $1"
    exit 0
}

if command -v podman >/dev/null 2>&1; then
    builder=podman
elif command -v buildah >/dev/null 2>&1; then
    builder=buildah
else
    skip "neither podman nor buildah is installed"
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' spin.toml | head -n1)
image=${IMAGE:-localhost/api-keys-spin-cli:$version}
base=${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' Containerfile)}
isolation=${IMAGE_ISOLATION:-chroot}

base_present() {
    if [[ "$builder" == podman ]]; then
        podman image exists "$base"
    else
        buildah inspect --type image "$base" >/dev/null 2>&1
    fi
}
pull=(--pull=never)
if ! base_present; then
    if [[ "${IMAGE_PULL:-}" != 1 ]]; then
        skip "base image $base is not in local storage (no registry pull in the test command: pull it, or set IMAGE_PULL=1 or BASE_IMAGE)"
    fi
    pull=(--pull=missing)
fi

# The components spin.toml names, as `spin build` writes them.
missing=()
while read -r source; do
    [[ -s "$source" ]] || missing+=("$source")
done < <(sed -n 's/^source = "\(.*\)"$/\1/p' spin.toml)
if ((${#missing[@]})); then
    echo "build-image: not built: ${missing[*]} (run \`spin build\` first)" >&2
    exit 1
fi

# The Spin CLI comes from the build context: .tools/bin/spin when scripts/ensure-spin.sh
# installed it there, otherwise a copy in .tools/image/ (both ignored by git).
spin=$(scripts/ensure-spin.sh)
spin=$(cd "$(dirname "$spin")" && pwd)/$(basename "$spin")
if [[ "$spin" == "$PWD/.tools/bin/spin" ]]; then
    spin_in_context=.tools/bin/spin
else
    mkdir -p .tools/image
    cp "$spin" .tools/image/spin
    spin_in_context=.tools/image/spin
fi

echo "build-image: $builder build $image (base $base, Spin $("$spin" --version | cut -d' ' -f2), isolation $isolation)"
build=(build)
[[ "$builder" == buildah ]] && build=(build --layers)
"$builder" "${build[@]}" "${pull[@]}" --isolation "$isolation" \
    --build-arg BASE_IMAGE="$base" --build-arg SPIN_BINARY="$spin_in_context" \
    -f Containerfile -t "$image" .
echo "build-image: built $image"
