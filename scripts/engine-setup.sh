#!/bin/sh
# Make this machine ready for the engine tests (tests/tests/engines.rs), as root:
#   - installs, when missing, Debian's podman (with conmon), runc, crun,
#     containerd (with ctr and containerd-shim-runc-v2), uidmap, slirp4netns
#     and fuse-overlayfs (apt-get);
#   - creates /run/user/<uid> (mode 700) for the test user $NSLAUNCH_TEST_USER
#     (default nslaunch-test, made by `scripts/test-deps.sh all`, run that first);
#   - builds the image localhost/nslaunch-test-busybox:latest from
#     scripts/mkrootfs.sh with `podman import`, in root's podman storage and in
#     the test user's, where it is not there yet.
# It changes no configuration: podman reads the tests' own containers.conf
# (tests/engines/containers.conf, passed with CONTAINERS_CONF), never
# /etc/containers/containers.conf; the tests start and stop a containerd of
# their own (private socket, root and state under their scratch directory);
# no service is started or enabled; /dev/net/tun is left as it is (.ci/run
# opens it to the test user, see there).
#
#   scripts/engine-setup.sh
#
# Idempotent. As anyone else it says what is missing and imports the image
# into that user's own podman storage (the rootless half runs as them).
set -eu

cd "$(dirname "$0")/.."
repo=$(pwd)
user=${NSLAUNCH_TEST_USER:-nslaunch-test}
image=localhost/nslaunch-test-busybox:latest
conf_src=$repo/tests/engines/containers.conf
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
is_root=false
[ "$(id -u)" = 0 ] && is_root=true

say() { echo "engine-setup: $*" >&2; }

# Package name for each command the tests run.
missing=""
need() {
    command -v "$1" >/dev/null 2>&1 || case " $missing " in
        *" $2 "*) ;;
        *) missing="$missing $2" ;;
    esac
}
need podman podman
need conmon conmon
need runc runc
need crun crun
need containerd containerd
need ctr containerd
need containerd-shim-runc-v2 containerd
need newuidmap uidmap
need slirp4netns slirp4netns
need fuse-overlayfs fuse-overlayfs

if [ -n "$missing" ]; then
    if $is_root && command -v apt-get >/dev/null 2>&1; then
        say "installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    else
        say "missing:$missing (Debian: sudo apt-get install$missing)"
    fi
fi

if ! command -v podman >/dev/null 2>&1; then
    say "podman is not installed: the engine tests will be skipped"
    $is_root && exit 1
    exit 0
fi

# A world-readable scratch directory: the test user reads the config and the
# image's tarball from it.
tmp=$(mktemp -d /tmp/engine-setup.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
chmod 755 "$tmp"
cp "$conf_src" "$tmp/containers.conf"
chmod 644 "$tmp/containers.conf"

tarball() {
    [ -s "$tmp/rootfs.tar" ] && return 0
    BUSYBOX=${BUSYBOX:-} sh scripts/mkrootfs.sh "$tmp/rootfs" >/dev/null
    # Owned by root in the image, whoever built it.
    tar -C "$tmp/rootfs" --owner=0 --group=0 --numeric-owner -cf "$tmp/rootfs.tar" .
    chmod 644 "$tmp/rootfs.tar"
}

# podman as ourselves (root, or an ordinary user), with the tests' config.
podman_self() {
    (cd /tmp && env CONTAINERS_CONF="$tmp/containers.conf" podman "$@")
}

if ! $is_root; then
    # An ordinary user runs the rootless half as themself: their own image.
    if ! podman_self image exists "$image"; then
        tarball
        say "importing $image for $(id -un)"
        podman_self import --quiet "$tmp/rootfs.tar" "$image" >/dev/null ||
            say "could not import $image: the engine tests will be skipped"
    fi
    exit 0
fi

if ! podman_self image exists "$image"; then
    tarball
    say "importing $image for root"
    podman_self import --quiet "$tmp/rootfs.tar" "$image" >/dev/null
fi

if ! id "$user" >/dev/null 2>&1; then
    say "no test user $user: run scripts/test-deps.sh all first"
    exit 1
fi
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
run=/run/user/$uid
if [ ! -d "$run" ]; then
    say "creating $run for $user"
    mkdir -p "$run"
fi
chown "$user:" "$run"
chmod 700 "$run"

# podman as the test user (rootless), with a clean environment.
podman_user() {
    (cd /tmp && setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups -- \
        env -i PATH="$path" HOME="$home" USER="$user" LOGNAME="$user" \
        XDG_RUNTIME_DIR="$run" CONTAINERS_CONF="$tmp/containers.conf" podman "$@")
}

# Rootless podman keeps a pause process (catatonit -P) holding its user
# namespace; stop it again if this script started it.
pause_pid() { cat "$run/libpod/tmp/pause.pid" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
before=$(pause_pid)
alive "$before" || before=""
if ! podman_user image exists "$image"; then
    tarball
    say "importing $image for $user"
    podman_user import --quiet "$tmp/rootfs.tar" "$image" >/dev/null
fi
after=$(pause_pid)
if [ -z "$before" ] && alive "$after"; then
    kill "$after"
fi
exit 0
