#!/bin/sh
# Build a minimal busybox root filesystem in DIR, for the demo and the tests.
#
#   scripts/mkrootfs.sh DIR
#
# Needs a statically linked busybox (Debian: apt-get install busybox-static).
# Set BUSYBOX=/path/to/busybox to choose one. The result has /bin/sh and
# every busybox applet as a symlink, /etc/passwd and /etc/group with root,
# and the usual empty directories (proc, dev, sys, tmp, root ...).
set -eu

die() { echo "mkrootfs: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
dir=$1

bb=${BUSYBOX:-}
if [ -z "$bb" ]; then
    for cand in /bin/busybox /usr/bin/busybox; do
        [ -x "$cand" ] && { bb=$cand; break; }
    done
fi
[ -n "$bb" ] && [ -x "$bb" ] || die "no busybox found: install one (Debian: apt-get install busybox-static) or set BUSYBOX"
# A dynamically linked busybox cannot run in a rootfs without its libc.
if command -v readelf >/dev/null 2>&1 && readelf -l "$bb" 2>/dev/null | grep -q 'INTERP'; then
    die "$bb is dynamically linked; install busybox-static (or set BUSYBOX to a static one)"
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin sbin usr/bin usr/sbin etc proc dev sys tmp root home var/tmp
chmod 1777 tmp var/tmp
chmod 700 root
cp "$bb" bin/busybox
chmod 755 bin/busybox
# busybox --list-full prints every applet with its usual path (bin/sh ...).
bin/busybox --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    [ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done
[ -e bin/sh ] || ln -s /bin/busybox bin/sh
cat > etc/passwd <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > etc/group <<'G'
root:x:0:
tty:x:5:
nogroup:x:65534:
G
echo "rootfs ready: $dir"
