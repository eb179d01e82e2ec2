#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine, as root, install
# what is missing, build, start a daemon on ./demo (LMDB under it, nothing to
# install), deploy the example ships and print `keelan daemon status`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config libuv1-dev libcli11-dev nlohmann-json3-dev
          liblmdb-dev libgtest-dev libcurl4-openssl-dev libtomlplusplus-dev busybox-static)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cmake --preset release >/dev/null
cmake --build --preset release --target keelan -j "$(nproc)"

export BASE_DIRECTORY="${BASE_DIRECTORY:-$PWD/demo}"
export KEELAN="$PWD/build/release/keelan"
"$KEELAN" daemon status >/dev/null 2>&1 || "$KEELAN" daemon start
examples/demo.sh
echo
echo "The web ship is still running. Try: BASE_DIRECTORY=$BASE_DIRECTORY $KEELAN ps --all"
echo "Clean up with: BASE_DIRECTORY=$BASE_DIRECTORY $KEELAN stop web && BASE_DIRECTORY=$BASE_DIRECTORY $KEELAN daemon stop"
