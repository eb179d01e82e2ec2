#!/usr/bin/env bash
# packaging/ci-check.sh: the CI check of the Debian package (issue 6).
#
# Run as root on a machine WITHOUT systemd, after the build (build/release, or
# KEELAN_BUILD_DIR). It builds the .deb with CPack, runs lintian (errors
# fail), installs the package, starts the daemon the way keelan.service's
# ExecStart does, deploys the example ships with the installed command,
# rotates the logs with the installed logrotate rules, stops everything,
# purges the package and checks that nothing is left behind.
#
# It installs and purges the keelan package on this machine: a keelan
# package already installed here is purged first.
#
# pass and fail always succeed, so `check && pass ... || fail ...` is safe.
# shellcheck disable=SC2015
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${KEELAN_BUILD_DIR:-$repo/build/release}
base=/var/lib/keelan
examples=/usr/share/doc/keelan/examples
root=$base/roots/busybox

passed=0
failed=0
daemon_pid=
work=

pass() {
	echo "PASS: $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL: $*"
	failed=$((failed + 1))
}
# A step the rest depends on failed: clean up (trap) and stop here.
die() {
	fail "$*"
	exit 1
}
note() { echo "---- $*"; }

# Polls "$@" every 0.1 s for at most $1 seconds.
poll() {
	local seconds=$1
	shift
	local deadline=$(($(date +%s%N) / 1000000 + seconds * 1000))
	until "$@"; do
		[ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# Is PID a live process (not gone, not a zombie)?
alive() {
	local state
	state=$(awk '{ sub(/.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# The installed command as a user runs it: from /, with no BASE_DIRECTORY
# (so it reads /etc/default/keelan), bounded in time.
k() {
	(cd / && timeout 30 env -u BASE_DIRECTORY -u KEELAN_SOCKET -u KEELAN_DEFAULTS_FILE /usr/bin/keelan "$@")
}

# PIDs of processes running /usr/bin/keelan, or chrooted below /var/lib/keelan.
package_processes() {
	local dir pid exe proot
	for dir in /proc/[0-9]*; do
		pid=${dir#/proc/}
		[ "$pid" = "$$" ] && continue
		exe=$(readlink "$dir/exe" 2>/dev/null) || exe=
		proot=$(readlink "$dir/root" 2>/dev/null) || proot=
		case "$exe" in /usr/bin/keelan | "/usr/bin/keelan (deleted)") echo "$pid"; continue ;; esac
		case "$proot" in "$base" | "$base"/* | "$base (deleted)" | "$base"/*" (deleted)") echo "$pid" ;; esac
	done
}

installed() { dpkg-query -W -f='${Status}' keelan 2>/dev/null | grep -q "ok installed"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$daemon_pid" ] && alive "$daemon_pid"; then
		note "cleanup: stopping the ships and the daemon (pid $daemon_pid)"
		k stop web --timeout 5 >/dev/null 2>&1
		kill -TERM "$daemon_pid" 2>/dev/null
		# shellcheck disable=SC2016 # eval expands it, each time
		poll 10 eval '! alive "$daemon_pid"' || kill -KILL "$daemon_pid" 2>/dev/null
	fi
	if [ -n "$daemon_pid" ]; then
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	fi
	# Anything else this run started: a daemon that `keelan deploy` started,
	# or a ship still running in the example root.
	local leftovers
	leftovers=$(package_processes)
	if [ -n "$leftovers" ]; then
		note "cleanup: ending leftover processes: $leftovers"
		# shellcheck disable=SC2086,SC2016,SC2046 # PID lists
		kill -TERM $leftovers 2>/dev/null
		# shellcheck disable=SC2016,SC2046
		poll 5 eval '[ -z "$(package_processes)" ]' || kill -KILL $(package_processes) 2>/dev/null
	fi
	if installed || dpkg-query -W keelan >/dev/null 2>&1; then
		note "cleanup: purging the keelan package"
		dpkg --purge keelan >/dev/null 2>&1 || echo "cleanup: dpkg --purge keelan failed" >&2
	fi
	[ -n "$work" ] && rm -rf "$work"
	[ "$rc" -eq 0 ] && [ "$failed" -ne 0 ] && rc=1
	echo
	echo "ci-check: $passed passed, $failed failed"
	if [ "$rc" -eq 0 ]; then echo "PASS: packaging/ci-check.sh"; else echo "FAIL: packaging/ci-check.sh"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ preconditions
[ "$(id -u)" -eq 0 ] || die "must run as root (it installs and purges the package)"
if [ -d /run/systemd/system ]; then
	die "systemd is running here: this check starts the daemon itself and is meant for a machine without systemd"
fi
[ -d "$build" ] || die "no build directory $build: build first (cmake --preset release && cmake --build --preset release)"
work=$(mktemp -d /tmp/keelan-ci-check.XXXXXX)

need=()
command -v lintian >/dev/null || need+=(lintian)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v logrotate >/dev/null || need+=(logrotate)
[ -x /bin/busybox ] || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
	note "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; } ||
		die "cannot install ${need[*]}"
fi

if installed || dpkg-query -W keelan >/dev/null 2>&1; then
	note "a keelan package is installed here: purging it first"
	dpkg --purge keelan >/dev/null || die "cannot purge the keelan package installed before this check"
fi
[ ! -e "$base" ] || die "$base exists though no keelan package is installed: remove it first"
[ -z "$(package_processes)" ] || die "keelan processes are running already: $(package_processes | tr '\n' ' ')"

# ---------------------------------------------------------------- the .deb
note "building the package in $build"
# Only what goes into the package: the test suite is .ci/run's business.
cmake -S "$repo" -B "$build" >"$work/cmake.log" 2>&1 &&
	cmake --build "$build" --target keelan keelan_package_files >>"$work/cmake.log" 2>&1 ||
	{ cat "$work/cmake.log"; die "cmake failed"; }
rm -f "$build"/keelan_*.deb
(cd "$build" && cpack -G DEB --config CPackConfig.cmake) >"$work/cpack.log" 2>&1 ||
	{ cat "$work/cpack.log"; die "cpack -G DEB failed"; }
debs=("$build"/keelan_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || die "cpack made no single keelan_*.deb: ${debs[*]}"
deb=${debs[0]}
pass "cpack built $(basename "$deb") ($(stat -c %s "$deb") bytes)"

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
if [[ "$depends" == *libuv1* && "$depends" == *liblmdb0* && "$depends" == *libc6* ]]; then
	pass "Depends computed from the binary's libraries"
else
	fail "Depends lacks libuv1, liblmdb0 or libc6: '$depends'"
fi

dpkg-deb -c "$deb" | awk '{ print $1, $2, $NF }' >"$work/contents"
missing=
for path in ./usr/bin/keelan ./usr/libexec/keelan/keelan-ship-exec ./lib/systemd/system/keelan.service ./etc/default/keelan ./etc/logrotate.d/keelan \
	./etc/keelan/keelan.toml ./usr/share/man/man1/keelan.1.gz ./usr/share/bash-completion/completions/keelan ./usr/share/zsh/vendor-completions/_keelan \
	./usr/share/doc/keelan/README.md ./usr/share/doc/keelan/changelog.Debian.gz \
	./usr/share/doc/keelan/copyright ./usr/share/doc/keelan/examples/make-root.sh \
	./usr/share/doc/keelan/examples/demo.sh ./usr/share/doc/keelan/examples/hello.json \
	./usr/share/doc/keelan/examples/web.json ./usr/share/doc/keelan/examples/crash.json; do
	grep -q " $path\$" "$work/contents" || missing="$missing $path"
done
if [ -z "$missing" ]; then pass "the package holds every expected file"; else fail "the package lacks:$missing"; fi
bad_modes=$(awk '$2 != "root/root" || ($1 !~ /^(drwxr-xr-x|-rw-r--r--|-rwxr-xr-x)$/)' "$work/contents")
if [ -z "$bad_modes" ]; then pass "every file is root/root, 0644 or 0755"; else fail "odd owners or modes: $bad_modes"; fi

lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1
lintian_rc=$?
grep -v "running with root privileges is not recommended" "$work/lintian.log"
if [ "$lintian_rc" -eq 0 ] && ! grep -q '^E: ' "$work/lintian.log"; then
	pass "lintian: no errors ($(grep -c '^W: ' "$work/lintian.log") warnings, see packaging/README.md)"
else
	fail "lintian reported errors (exit $lintian_rc)"
fi

# ------------------------------------------------------------------ install
note "dpkg -i $(basename "$deb")"
dpkg -i "$deb" || die "dpkg -i failed"
pass "dpkg -i"
[ "$(stat -c %a "$base" 2>/dev/null)" = 750 ] && pass "postinst made $base (0750)" || fail "postinst did not make $base 0750"
conffiles=$(dpkg-query -W -f='${Conffiles}' keelan)
if [[ "$conffiles" == */etc/default/keelan* && "$conffiles" == */etc/logrotate.d/keelan* &&
	"$conffiles" == */etc/keelan/keelan.toml* ]]; then
	pass "/etc/default/keelan, /etc/logrotate.d/keelan and /etc/keelan/keelan.toml are conffiles"
else
	fail "conffiles are '$conffiles'"
fi
if k daemon config --check /etc/keelan/keelan.toml >/dev/null && k daemon config --json | grep -q '"file": "/etc/keelan/keelan.toml"'; then
	pass "the packaged /etc/keelan/keelan.toml is valid and is the one the command reads"
else
	fail "keelan daemon config --check /etc/keelan/keelan.toml"
fi
if command -v systemd-analyze >/dev/null; then
	if systemd-analyze verify /lib/systemd/system/keelan.service >"$work/verify.log" 2>&1; then
		pass "systemd-analyze verify keelan.service"
	else
		cat "$work/verify.log"
		fail "systemd-analyze verify keelan.service"
	fi
else
	echo "SKIP: systemd-analyze is not installed"
fi

# ------------------------------------------------------- start as the unit
# keelan.service: WorkingDirectory=/var/lib/keelan,
# EnvironmentFile=-/etc/default/keelan,
# ExecStart=/usr/bin/keelan daemon start --foreground $KEELAN_OPTS.
# It is this shell's child (exec), so its PID is known and `wait` reaps it.
# $KEELAN_OPTS is word-split, as systemd does.
note "starting the daemon as keelan.service would"
# shellcheck disable=SC2086,SC1091
(
	cd "$base" &&
		unset BASE_DIRECTORY KEELAN_OPTS KEELAN_SOCKET KEELAN_DEFAULTS_FILE NOTIFY_SOCKET &&
		set -a && . /etc/default/keelan && set +a &&
		exec /usr/bin/keelan daemon start --foreground $KEELAN_OPTS
) </dev/null >"$work/daemon.out" 2>&1 &
daemon_pid=$!

status_answers() {
	alive "$daemon_pid" || return 0 # stop polling: it died
	k daemon status >/dev/null 2>&1
}
poll 10 status_answers
if ! alive "$daemon_pid"; then
	cat "$work/daemon.out"
	die "the daemon exited during start-up"
fi
k daemon status >"$work/status.out" 2>&1 || { cat "$work/status.out" "$work/daemon.out"; die "keelan daemon status: no answer within 10 s"; }
cat "$work/status.out"
grep -q "keelan daemon is running (pid $daemon_pid)" "$work/status.out" &&
	grep -q "base: *$base\$" "$work/status.out" &&
	pass "keelan daemon status (no BASE_DIRECTORY, from /) finds the daemon pid $daemon_pid on $base" ||
	fail "keelan daemon status does not show pid $daemon_pid on $base"

# ------------------------------------------------------------------- ships
note "building the example root $root"
"$examples/make-root.sh" "$root" || die "$examples/make-root.sh failed"
[ -L "$root/bin/sh" ] && [ "$(readlink "$root/bin/sh")" = busybox ] && pass "make-root.sh: relative applet links" ||
	fail "make-root.sh: $root/bin/sh is not a link to busybox"
"$examples/make-root.sh" "$root" >/dev/null && pass "make-root.sh runs again (idempotent)" || fail "make-root.sh failed the second time"

deploy() { # deploy NAME: from the packaged ship file
	if k deploy "$1" --file "$examples/$1.json" >"$work/deploy.out" 2>&1; then
		cat "$work/deploy.out"
		if grep -q "started one" "$work/deploy.out"; then
			fail "keelan deploy $1 started a daemon of its own: it did not find pid $daemon_pid"
		else
			pass "keelan deploy $1"
		fi
	else
		cat "$work/deploy.out"
		fail "keelan deploy $1"
	fi
}

deploy hello
out=$(k wait hello 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] && [[ "$out" == "hello exited with code 0" ]] && pass "keelan wait hello: exit 0" || fail "keelan wait hello: exit $rc"
k logs hello | grep -q "hello from a keelan ship" && pass "keelan logs hello" || fail "keelan logs hello lacks the greeting"

deploy crash
out=$(k wait crash 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 139 ] && [[ "$out" == *SIGSEGV* ]] && pass "keelan wait crash: SIGSEGV, exit 139" || fail "keelan wait crash: exit $rc"

# GET / from 127.0.0.1:8080 with bash's /dev/tcp (no HTTP client needed).
http_get() {
	timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/8080 && printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 && cat <&3' 2>/dev/null
}
web_page() { http_get | grep -q "Hello from a keelan ship"; }
web_skipped=
if http_get >/dev/null; then
	echo "SKIP: something already answers on 127.0.0.1:8080; not deploying web"
	web_skipped=1
else
	deploy web
	poll 10 web_page && pass "web serves its page on 127.0.0.1:8080" || fail "web did not serve its page within 10 s"
fi

k ps --all >"$work/ps.out" 2>&1 || fail "keelan ps --all: exit $?"
cat "$work/ps.out"
awk '$1 == "hello" && $2 == "stopped" && $NF == "0" { ok = 1 } END { exit !ok }' "$work/ps.out" &&
	awk '$1 == "crash" && $2 == "stopped" && $NF == "SIGSEGV" { ok = 1 } END { exit !ok }' "$work/ps.out" &&
	{ [ -n "$web_skipped" ] || awk '$1 == "web" && $2 == "running" { ok = 1 } END { exit !ok }' "$work/ps.out"; } &&
	pass "keelan ps --all: hello stopped 0, crash stopped SIGSEGV, web running" ||
	fail "keelan ps --all does not show the expected ships"

running=1
[ -n "$web_skipped" ] && running=0
k daemon status >"$work/status.out" 2>&1
cat "$work/status.out"
grep -q "ships: *running $running, stopped 2, failed 0" "$work/status.out" &&
	pass "keelan daemon status counts the ships" || fail "keelan daemon status: wrong ship counts"

# -------------------------------------------------------------- logrotate
note "logrotate -f /etc/logrotate.d/keelan"
logs=$base/logs
if logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/keelan; then
	pass "logrotate accepts /etc/logrotate.d/keelan"
	reopened() { grep -q "log file reopened (SIGHUP)" "$logs/monitor-daemon.log" 2>/dev/null; }
	[ -s "$logs/monitor-daemon.log.1" ] && poll 10 reopened &&
		pass "daemon log rotated; postrotate's SIGHUP made the daemon reopen it" ||
		fail "daemon log not rotated or not reopened"
	# Ship logs are the daemon's to rotate (--max-log-size): logrotate leaves them be.
	[ -s "$logs/ships/hello.out.log" ] && [ ! -e "$logs/ships/hello.out.log.1" ] &&
		pass "ship logs left to the daemon" || fail "logrotate touched the ship log hello.out.log"
else
	fail "logrotate -f /etc/logrotate.d/keelan"
fi
k daemon status >/dev/null 2>&1 && pass "the daemon still answers after rotation" || fail "the daemon stopped answering after rotation"

# ------------------------------------------------------------------- stop
if [ -z "$web_skipped" ]; then
	out=$(k stop web 2>&1) && [[ "$out" == *SIGTERM* ]] && pass "keelan stop web: $out" || fail "keelan stop web: $out"
fi
out=$(k daemon stop 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] && pass "keelan daemon stop" || fail "keelan daemon stop: exit $rc"
wait "$daemon_pid"
rc=$?
daemon_pid=
[ "$rc" -eq 0 ] && pass "the daemon exited 0" || fail "the daemon exited $rc"
k daemon status >/dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] && pass "keelan daemon status: not running (exit 3)" || fail "keelan daemon status after stop: exit $rc"

# ------------------------------------------------------------------ purge
note "dpkg --purge keelan"
dpkg --purge keelan && pass "dpkg --purge keelan" || fail "dpkg --purge keelan"
installed && fail "keelan is still installed" || pass "keelan is not installed"
left=
for path in /usr/bin/keelan /etc/default/keelan /etc/logrotate.d/keelan /etc/keelan /lib/systemd/system/keelan.service \
	/usr/share/doc/keelan /usr/share/man/man1/keelan.1.gz "$base" \
	/etc/systemd/system/keelan.service /etc/systemd/system/multi-user.target.wants/keelan.service \
	/var/lib/systemd/deb-systemd-helper-enabled/keelan.service.dsh-also \
	/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/keelan.service \
	/var/lib/systemd/deb-systemd-helper-masked/keelan.service; do
	[ -e "$path" ] || [ -L "$path" ] && left="$left $path"
done
[ -z "$left" ] && pass "nothing left on disk after purge" || fail "left after purge:$left"
procs=$(package_processes)
[ -z "$procs" ] && pass "no keelan process left" || fail "processes left: $procs"
