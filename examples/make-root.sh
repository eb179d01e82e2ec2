#!/bin/sh
# make-root.sh DIR: builds a minimal root for keelan's example ships in DIR,
# from Debian's statically linked busybox (package busybox-static):
#   DIR/bin/busybox and one relative symlink per applet (DIR/bin/sh -> busybox),
#   DIR/tmp, DIR/www/index.html, DIR/etc/passwd and DIR/etc/group.
# Safe to run again: it brings DIR back to that state and leaves the rest.
set -eu

usage() {
	echo "usage: $0 DIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage
[ -n "$1" ] || usage
dir=$1

busybox=${BUSYBOX:-/bin/busybox}
if [ ! -x "$busybox" ] && [ "$busybox" = /bin/busybox ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "make-root: installing busybox-static" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q busybox-static >&2; }
fi
if [ ! -x "$busybox" ]; then
	echo "make-root: $busybox not found; install busybox-static (apt-get install busybox-static)" >&2
	exit 1
fi
# A dynamically linked busybox (package busybox) would find no libraries
# inside the root.
if ldd "$busybox" >/dev/null 2>&1; then
	echo "make-root: $busybox is dynamically linked; install busybox-static instead of busybox" >&2
	exit 1
fi

mkdir -p "$dir/bin" "$dir/etc" "$dir/www" "$dir/tmp"
chmod 0755 "$dir" "$dir/bin" "$dir/etc" "$dir/www"
chmod 1777 "$dir/tmp"

if ! cmp -s "$busybox" "$dir/bin/busybox"; then
	cp "$busybox" "$dir/bin/busybox.new"
	chmod 0755 "$dir/bin/busybox.new"
	mv -f "$dir/bin/busybox.new" "$dir/bin/busybox"
fi

# Relative links: they resolve inside the root after chroot and, from the
# host, to DIR/bin/busybox (never to the host's /bin/busybox). Links that are
# already right are left alone.
done_links=" $(cd "$dir/bin" && find . -maxdepth 1 -type l -lname busybox | sed 's|^\./||' | tr '\n' ' ') "
for applet in $("$dir/bin/busybox" --list); do
	case "$done_links" in *" $applet "*) continue ;; esac
	[ "$applet" = busybox ] && continue
	ln -sfn busybox "$dir/bin/$applet"
done

write() { # write FILE: stdin to FILE (0644) unless FILE already says that
	tmp=$1.new
	cat >"$tmp"
	if cmp -s "$tmp" "$1"; then
		rm -f "$tmp"
	else
		chmod 0644 "$tmp"
		mv -f "$tmp" "$1"
	fi
}

write "$dir/etc/passwd" <<'PASSWD'
root:x:0:0:root:/:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
write "$dir/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
write "$dir/www/index.html" <<'HTML'
<!DOCTYPE html>
<html>
<head><title>keelan example</title></head>
<body><p>Hello from a keelan ship: busybox httpd in a chroot.</p></body>
</html>
HTML

echo "make-root: $dir is ready ($("$dir/bin/busybox" --list | wc -l) applets)"
