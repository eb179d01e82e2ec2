#!/bin/sh
# demo.sh: builds the busybox root, deploys the three example ships (hello,
# web, crash), waits for hello and crash to end, applies the fleet file
# fleet.toml, then shows what keelan saw.
#
#   sudo BASE_DIRECTORY=/tmp/keelan-demo examples/demo.sh
#
# BASE_DIRECTORY  the daemon's directory; unset: BASE_DIRECTORY= from
#                 /etc/default/keelan, else the current directory (as keelan)
# KEELAN          the keelan binary; default: keelan on PATH, else the build
#                 tree's build/release/keelan
# ROOT            the ships' root; default: BASE_DIRECTORY/roots/busybox
#
# A daemon is started on BASE_DIRECTORY if none runs (keelan deploy does it).
# Then it applies examples/fleet.toml (web and ticker), twice, to show that
# an identical definition is left alone. The fleet keeps running; afterwards:
#   keelan stop --label demo=fleet && keelan daemon stop
set -eu

here=$(cd "$(dirname "$0")" && pwd)

if [ -z "${KEELAN:-}" ]; then
	if command -v keelan >/dev/null 2>&1; then
		KEELAN=keelan
	elif [ -x "$here/../build/release/keelan" ]; then
		KEELAN=$(cd "$here/../build/release" && pwd)/keelan
	else
		echo "demo: no keelan on PATH and no $here/../build/release/keelan; set KEELAN=/path/to/keelan" >&2
		exit 1
	fi
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the example ships run in a chroot, which needs root" >&2
	exit 1
fi

# Resolve the base directory the way keelan does, then pin it so that every
# command below talks to the same daemon.
if [ -z "${BASE_DIRECTORY:-}" ]; then
	defaults=${KEELAN_DEFAULTS_FILE:-/etc/default/keelan}
	BASE_DIRECTORY=
	if [ -r "$defaults" ]; then
		BASE_DIRECTORY=$(sed -n 's/^BASE_DIRECTORY=//p' "$defaults" | tail -n 1 | sed "s/^\([\"']\)\(.*\)\1\$/\2/")
	fi
	[ -n "$BASE_DIRECTORY" ] || BASE_DIRECTORY=$(pwd)
fi
mkdir -p "$BASE_DIRECTORY"
BASE_DIRECTORY=$(cd "$BASE_DIRECTORY" && pwd)
export BASE_DIRECTORY
ROOT=${ROOT:-$BASE_DIRECTORY/roots/busybox}

say() { printf '\n== %s\n' "$*"; }

say "building the root $ROOT"
"$here/make-root.sh" "$ROOT"

say "deploying hello, web and crash on $BASE_DIRECTORY"
for ship in hello web crash; do
	"$KEELAN" deploy "$ship" --replace --file "$here/$ship.json" --root "$ROOT"
done

say "waiting for hello (should exit 0)"
"$KEELAN" wait hello

say "waiting for crash (should die of SIGSEGV)"
status=0
"$KEELAN" wait crash || status=$?
echo "keelan wait crash exited with $status (128 + signal number, like a shell)"

say "hello's output"
"$KEELAN" logs hello

say "applying the fleet file examples/fleet.toml (web and ticker)"
# The file names the packaged root; point it at ours.
sed "s|/var/lib/keelan/roots/busybox|$ROOT|" "$here/fleet.toml" >"$BASE_DIRECTORY/fleet.toml"
# web runs already (deployed by hand above): apply replaces it with the
# fleet's definition, once.
"$KEELAN" apply "$BASE_DIRECTORY/fleet.toml"

say "applying it again: nothing changes"
"$KEELAN" apply "$BASE_DIRECTORY/fleet.toml"

say "keelan ps --label demo=fleet"
"$KEELAN" ps --label demo=fleet

say "keelan ps --all"
"$KEELAN" ps --all

say "keelan daemon status"
"$KEELAN" daemon status

cat <<MSG

web serves $ROOT/www on http://127.0.0.1:8080/ and ticker ticks until you stop them:
  BASE_DIRECTORY=$BASE_DIRECTORY $KEELAN stop --label demo=fleet
  BASE_DIRECTORY=$BASE_DIRECTORY $KEELAN daemon stop
MSG
