#!/bin/sh
# Make this machine ready for the demo or the tests.
#
#   scripts/test-deps.sh busybox   a static busybox (for the demo rootfs)
#   scripts/test-deps.sh all       that, uidmap, groff, systemd's tools, a C compiler,
#                                  passt, slirp4netns,
#                                  and the unprivileged test users
#
# As root on Debian/Ubuntu it installs what is missing with apt-get and
# creates the user $NSLAUNCH_TEST_USER (default nslaunch-test) with
# subordinate id ranges in /etc/subuid and /etc/subgid, and the user
# $NSLAUNCH_TEST_NOSUB_USER (default nslaunch-nosub) with none (the tests
# of what happens without them). As anyone else it only says what is
# missing.
set -eu

what=${1:-all}
user=${NSLAUNCH_TEST_USER:-nslaunch-test}
nosub=${NSLAUNCH_TEST_NOSUB_USER:-nslaunch-nosub}
is_root=false
[ "$(id -u)" = 0 ] && is_root=true

static_busybox() {
    for b in /bin/busybox /usr/bin/busybox; do
        if [ -x "$b" ]; then
            if command -v readelf >/dev/null 2>&1 && readelf -l "$b" 2>/dev/null | grep -q INTERP; then
                continue
            fi
            return 0
        fi
    done
    return 1
}

missing=""
static_busybox || missing="$missing busybox-static"
if [ "$what" = all ]; then
    command -v newuidmap >/dev/null 2>&1 || missing="$missing uidmap"
    # The tarball tests write archives with python3's tarfile, and .zst
    # ones with zstd.
    [ -x /usr/bin/python3 ] || missing="$missing python3"
    command -v zstd >/dev/null 2>&1 || missing="$missing zstd"
    # The man pages are rendered with groff -ww (no warning allowed).
    command -v groff >/dev/null 2>&1 || missing="$missing groff-base"
    # A cache test widens a race window with strace's delay injection.
    command -v strace >/dev/null 2>&1 || missing="$missing strace"
    # The systemd tests (tests/tests/systemd.rs) start nslaunch as a
    # socket unit would and check the example units: systemd's tools run
    # without systemd running. Their service side is a small C program
    # built static (glibc's libc.a is in libc6-dev).
    command -v systemd-socket-activate >/dev/null 2>&1 || missing="$missing systemd"
    command -v cc >/dev/null 2>&1 || missing="$missing gcc"
    static_libc=false
    for a in /usr/lib/*/libc.a /usr/lib/libc.a; do [ -f "$a" ] && static_libc=true; done
    $static_libc || missing="$missing libc6-dev"
    # The network tests start pasta (Debian: passt) and slirp4netns.
    command -v pasta >/dev/null 2>&1 || missing="$missing passt"
    command -v slirp4netns >/dev/null 2>&1 || missing="$missing slirp4netns"
    # `nslaunch --init PATH` is tried with another init than nsinit:
    # tini's static build (Debian: tini).
    [ -x /usr/bin/tini-static ] || missing="$missing tini"
fi

if [ -n "$missing" ]; then
    if $is_root && command -v apt-get >/dev/null 2>&1; then
        echo "test-deps: installing$missing" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    else
        echo "test-deps: missing:$missing (Debian: sudo apt-get install$missing)" >&2
        [ "$what" = busybox ] && exit 1
    fi
fi

if [ "$what" = all ] && $is_root; then
    if ! id "$user" >/dev/null 2>&1; then
        echo "test-deps: creating the unprivileged test user $user" >&2
        useradd --create-home --shell /bin/sh "$user"
    fi
    for f in /etc/subuid /etc/subgid; do
        touch "$f"
        if ! grep -q "^$user:" "$f"; then
            # A range above every existing one.
            start=$(awk -F: '{ e = $2 + $3; if (e > m) m = e } END { print (m > 100000 ? m : 100000) }' "$f")
            echo "$user:$start:65536" >> "$f"
            echo "test-deps: $f: $user:$start:65536" >&2
        fi
    done
    if ! id "$nosub" >/dev/null 2>&1; then
        echo "test-deps: creating the test user $nosub, without subordinate ids" >&2
        # useradd may add ranges by itself (SUB_UID_COUNT in login.defs).
        useradd --create-home --shell /bin/sh -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$nosub"
    fi
    nosub_uid=$(id -u "$nosub")
    for f in /etc/subuid /etc/subgid; do
        if grep -Eq "^($nosub|$nosub_uid):" "$f"; then
            echo "test-deps: $f: removing the ranges of $nosub (it must have none)" >&2
            sed -i -E "/^($nosub|$nosub_uid):/d" "$f"
        fi
    done
fi
exit 0
