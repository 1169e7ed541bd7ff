#!/usr/bin/env bash
# make bench: nslaunch and nsinit measured side by side with their peers.
#
#   bench/bench.sh            (as root; `make bench` builds first, then runs this)
#   BENCH_QUICK=1 bench/bench.sh   a fast smoke run: few repetitions
#
# Launcher: nslaunch against bubblewrap, the article's unshare + pivot_root
# recipe (bench/recipe.sh) and crun, rootless (as $NSLAUNCH_TEST_USER,
# default nslaunch-test) and as root, on a busybox rootfs running /bin/true.
# OCI runtime: nslaunch against runc and crun for the lifecycle of one
# bundle (create, start, wait, delete), and under podman (`podman run --rm
# IMG true` with --runtime nslaunch against --runtime runc), rootless and
# as root.
# Seccomp: what nslaunch's default filter costs: launch latency with it,
# with --seccomp unconfined and of bubblewrap (no filter), rootless and as
# root; a syscall in a tight loop (bench/syscost.c) under the filter,
# without it and outside any container; the filter's build time and size.
# Init: nsinit against tini-static, dumb-init and catatonit, each as PID 1 of
# a fresh PID namespace (unshare --pid --fork --mount-proc), as root.
#
# Installs what is missing with apt-get (Debian/Ubuntu), builds small C
# helpers (bench/*.c) into a temporary directory, and leaves nothing behind:
# no process, mount, tracefs instance or temporary directory. Prints the
# report and writes it to docs/BENCHMARKS.md (BENCH_OUT=FILE to change).
#
# Contenders alternate: every measurement is repeated in rounds, the order
# rotating from round to round, and the samples of all rounds are pooled
# before the median is taken.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$HERE")
QUICK=${BENCH_QUICK:-0}
OUT=${BENCH_OUT:-$TOP/docs/BENCHMARKS.md}
TEST_USER=${NSLAUNCH_TEST_USER:-nslaunch-test}
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

if [ "$QUICK" = 1 ]; then
    LAT_ROUNDS=2 LAT_RUNS=5 WARMUP=2
    SEQ_N=20 PAR_N=10 BURST_REPS=1
    MEM_RUNS=3 TREE_RUNS=1
    TRACE_RUNS=3
    ORPH_N=10000 ORPH_REPS=1
    SIG_N=50 SIG_REPS=2
    IDLE_S=3
    START_ROUNDS=2 START_RUNS=10
    TAR_MB=64 TAR_RUNS=5
    OCI_ROUNDS=2 OCI_RUNS=5 POD_ROUNDS=2 POD_RUNS=2
    SEC_ROUNDS=2 SEC_RUNS=5 SYS_ROUNDS=2 SYS_BATCHES=10 SYS_N=20000 SECBUILD_RUNS=3
    NET_ROUNDS=1 NET_MIB=64 NET_CONNS=200 NET_LAUNCH_RUNS=5
else
    LAT_ROUNDS=12 LAT_RUNS=5 WARMUP=2
    SEQ_N=200 PAR_N=50 BURST_REPS=3
    MEM_RUNS=10 TREE_RUNS=3
    TRACE_RUNS=15
    ORPH_N=10000 ORPH_REPS=11
    SIG_N=50 SIG_REPS=20
    IDLE_S=20
    START_ROUNDS=5 START_RUNS=30
    TAR_MB=256 TAR_RUNS=20
    OCI_ROUNDS=12 OCI_RUNS=5 POD_ROUNDS=6 POD_RUNS=5
    SEC_ROUNDS=20 SEC_RUNS=10 SYS_ROUNDS=20 SYS_BATCHES=40 SYS_N=20000 SECBUILD_RUNS=20
    NET_ROUNDS=5 NET_MIB=512 NET_CONNS=2000 NET_LAUNCH_RUNS=30
fi

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (make bench): I install the peers, run containers as root and as $TEST_USER, and use unshare --pid and tracefs"

# --- what we need ---------------------------------------------------------

need_pkgs=""
need() { # command package
    command -v "$1" >/dev/null 2>&1 || need_pkgs="$need_pkgs $2"
}
need hyperfine hyperfine
need bwrap bubblewrap
need unshare util-linux
need setpriv util-linux
need tini-static tini
need dumb-init dumb-init
need catatonit catatonit
need gcc gcc
need readelf binutils
need jq jq
need taskset util-linux
need crun crun
need runc runc
need podman podman
[ -x /usr/bin/time ] || need_pkgs="$need_pkgs time"
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || [ -n "$(find /usr/lib -name libc.a 2>/dev/null | head -1)" ] ||
    need_pkgs="$need_pkgs libc6-dev"
if [ -n "$need_pkgs" ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing:$need_pkgs (and no apt-get to install them)"
    say "installing:$need_pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # crun, runc and podman are optional ("where they run"): install the
    # rest even if they fail.
    for p in $need_pkgs; do
        apt-get install -y -qq "$p" >/dev/null 2>&1 || say "could not install $p"
    done
fi
for c in hyperfine bwrap unshare setpriv taskset tini-static dumb-init catatonit gcc readelf jq; do
    command -v "$c" >/dev/null 2>&1 || die "$c is still missing"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is still missing"
"$TOP/scripts/test-deps.sh" all
id "$TEST_USER" >/dev/null 2>&1 || die "no user $TEST_USER"
U_UID=$(id -u "$TEST_USER")
U_GID=$(id -g "$TEST_USER")

NSLAUNCH_SRC=$TOP/target/release/nslaunch
NSINIT_SRC=$TOP/target/release/nsinit
[ -x "$NSLAUNCH_SRC" ] && [ -x "$NSINIT_SRC" ] || die "build first: make (or make bench)"

# --- a scratch directory that every user can read, removed on exit -------

TMP=$(mktemp -d /tmp/nslaunch-bench.XXXXXX)
chmod 755 "$TMP"
TRACE_DIR=""
BG_PIDS=""
# podman (the OCI section): the image the bench imported, per mode, and the
# rootless podman's private runtime directory (its pause process's pid).
PODMAN_IMG=localhost/nslaunch-bench-busybox:$$
PODMAN_RUN=$TMP/user/run # in $UHOME, below
declare -A PODMAN_IMPORTED=()
podman_cleanup() {
    local mode p
    for mode in "${!PODMAN_IMPORTED[@]}"; do
        pod "$mode" podman rmi -f "$PODMAN_IMG" >/dev/null 2>&1 ||
            say "could not remove the image $PODMAN_IMG ($mode)"
    done
    PODMAN_IMPORTED=()
    # Rootless podman keeps its user namespace in a pause process.
    p=$(cat "$PODMAN_RUN/libpod/tmp/pause.pid" 2>/dev/null || true)
    if [ -n "$p" ] && [ "$(stat -c %u "/proc/$p" 2>/dev/null)" = "$U_UID" ]; then
        kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$PODMAN_RUN/libpod/tmp/pause.pid"
}
# SIG to PID and every process below it. A launcher started with `as ...
# &` runs under the subshell's wrappers (unshare, setpriv), which pass no
# signal on: killing the subshell alone left the containers running.
kill_tree() { # SIG PID
    local c
    for c in $(pgrep -P "$2" 2>/dev/null); do kill_tree "$1" "$c"; done
    kill -"$1" "$2" 2>/dev/null || true
}
cleanup() {
    local p
    for p in $BG_PIDS; do
        kill_tree KILL "$p"
    done
    for p in $BG_PIDS; do
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$TRACE_DIR" ] && [ -d "$TRACE_DIR" ]; then
        echo 0 >"$TRACE_DIR/tracing_on" 2>/dev/null || true
        echo 0 >"$TRACE_DIR/events/enable" 2>/dev/null || true
        rmdir "$TRACE_DIR" 2>/dev/null || say "could not remove the tracefs instance $TRACE_DIR"
    fi
    podman_cleanup
    if grep -q " $TMP" /proc/self/mountinfo 2>/dev/null; then
        say "a mount under $TMP was left behind: this is a bug"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BIN=$TMP/bin
ROOTFS=$TMP/rootfs
UHOME=$TMP/user
mkdir -p "$BIN" "$UHOME" "$TMP/res"
chown "$U_UID:$U_GID" "$UHOME"
cp "$NSLAUNCH_SRC" "$NSINIT_SRC" "$BIN/"
cp "$HERE/recipe.sh" "$BIN/recipe.sh"
for h in burst orphans sigping memtree traceexec ocicycle syscost tcpbench; do
    gcc -O2 -Wall -Wextra -static -o "$BIN/$h" "$HERE/$h.c" || die "cannot build bench/$h.c"
done
chmod -R a+rX "$BIN"
"$TOP/scripts/mkrootfs.sh" "$ROOTFS" >/dev/null
mkdir -p "$ROOTFS/old_root" # the recipe pivots into it; nothing else uses it
cp "$BIN/syscost" "$ROOTFS/bin/syscost" # run in the container by the seccomp section
cp "$BIN/tcpbench" "$ROOTFS/bin/" # the network section's server (and podman's image)

# Run a command as root or as the test user, with the same clean
# environment, inside $LWRAP (see crun below).
LWRAP=()
as() { # MODE CMD...
    local mode=$1
    shift
    if [ "$mode" = rootless ]; then
        "${LWRAP[@]}" setpriv --reuid="$U_UID" --regid="$U_GID" --clear-groups \
            env -i PATH="$STD_PATH" HOME="$UHOME" LANG=C "$@"
    else
        "${LWRAP[@]}" env -i PATH="$STD_PATH" HOME=/root LANG=C "$@"
    fi
}

# --- statistics -------------------------------------------------------------

# stats FILE: "n median p90" of the numbers in FILE (one a line); p90 is
# the nearest-rank 90th percentile.
stats() {
    if [ -f "$1" ]; then sort -g "$1"; fi | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 nan nan"; exit }
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        r = int(0.9 * NR + 0.999999); if (r < 1) r = 1
        printf "%d %.6g %.6g\n", NR, m, v[r] }'
}
median() { stats "$1" | awk '{ print $2 }'; }
p90() { stats "$1" | awk '{ print $3 }'; }
count() { stats "$1" | awk '{ print $1 }'; }
# fmt NUMBER DECIMALS
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "nan" || x == "") print "n/a"; else printf "%.*f\n", d, x }'; }
# ratio A B: A/B with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
# le A B: true when A <= B
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && b != "nan" && a + 0 <= b + 0) }'; }
# lt A B: true when A < B
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "nan" && b != "nan" && a + 0 < b + 0) }'; }
# under_half A B: true when 2A < B (both numbers)
under_half() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && 2 * a < b + 0) }'; }
verdict() { if "$@"; then echo "**hit**"; else echo "**MISS**"; fi; }
# rotate N WORDS...: the words, starting from the N-th (mod count)
rotate() {
    local n=$1
    shift
    local a=("$@") k=${#a[@]} i
    for ((i = 0; i < k; i++)); do
        printf '%s\n' "${a[$(((i + n) % k))]}"
    done
}

# --- the launchers ----------------------------------------------------------

R=$ROOTFS
declare -A LCMD # "mode/name" -> command line (no spaces inside arguments)
LAUNCHERS=(nslaunch bwrap recipe crun)
declare -A LNAME=([nslaunch]=nslaunch [bwrap]="bubblewrap" [recipe]="unshare + pivot_root (article)" [crun]=crun
    [nslaunch-unconfined]="nslaunch --seccomp unconfined")
for mode in rootless root; do
    LCMD[$mode/nslaunch]="$BIN/nslaunch --rootfs $R @PAYLOAD@"
    # The seccomp section only: nslaunch without its default filter.
    LCMD[$mode/nslaunch-unconfined]="$BIN/nslaunch --seccomp unconfined --rootfs $R @PAYLOAD@"
    LCMD[$mode/bwrap]="bwrap --unshare-user --unshare-pid --bind $R / --proc /proc --dev /dev @PAYLOAD@"
    LCMD[$mode/recipe]="unshare --user --map-root-user --mount --pid --fork sh $BIN/recipe.sh $R @PAYLOAD@"
done

# crun: an OCI bundle per mode with the same namespaces (user only when
# rootless, as for the others: mount, PID) and the same mounts as nslaunch
# (/proc, a /dev tmpfs, devpts, /dev/shm); no cgroup (--cgroup-manager=
# disabled: none of the others makes one), no network namespace.
crun_bundle() { # MODE NAME ARGS_JSON: writes $TMP/crun-MODE/config-NAME.json
    local mode=$1 args=$3 dir=$TMP/crun-$1 ns maps=""
    mkdir -p "$dir"
    ns='{"type":"pid"},{"type":"mount"}'
    if [ "$mode" = rootless ]; then
        ns="$ns"',{"type":"user"}'
        maps=',"uidMappings":[{"containerID":0,"hostID":'"$U_UID"',"size":1}],"gidMappings":[{"containerID":0,"hostID":'"$U_GID"',"size":1}]'
    fi
    local cfg=$dir/config-$2.json
    cat >"$cfg" <<EOF
{"ociVersion":"1.0.0",
 "process":{"terminal":false,"user":{"uid":0,"gid":0},"args":$args,
   "env":["PATH=$STD_PATH"],"cwd":"/","noNewPrivileges":true},
 "root":{"path":"$R","readonly":false},
 "mounts":[
  {"destination":"/proc","type":"proc","source":"proc","options":["nosuid","noexec","nodev"]},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","mode=755","size=65536k"]},
  {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620"]},
  {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]}],
 "linux":{"namespaces":[$ns]$maps}}
EOF
    jq . "$cfg" >/dev/null || die "bad crun config $cfg"
    mkdir -p "$dir/state"
    [ "$mode" = rootless ] && chown -R "$U_UID:$U_GID" "$dir"
    chmod -R a+rX "$dir"
}
CRUN_SKIP=""
if ! command -v crun >/dev/null 2>&1; then
    CRUN_SKIP="crun is not installed and could not be installed"
else
    for mode in rootless root; do
        crun_bundle "$mode" true '["/bin/true"]'
        crun_bundle "$mode" sleep '["/bin/sleep","0.5"]'
        LCMD[$mode/crun]="crun --cgroup-manager=disabled --root $TMP/crun-$mode/state run --bundle $TMP/crun-$mode --config $TMP/crun-$mode/config-@PAYLOAD_NAME@.json @ID@"
    done
fi
# The command line of launcher NAME in MODE, running PAYLOAD (true|sleep),
# its crun container id ID.
lcmd() { # MODE NAME PAYLOAD ID
    local c=${LCMD[$1/$2]} p
    case $3 in
    true) p=/bin/true ;;
    sleep) p="/bin/sleep 0.5" ;;
    esac
    c=${c//@PAYLOAD_NAME@/$3}
    c=${c//@PAYLOAD@/$p}
    c=${c//@ID@/$4}
    echo "$c"
}

probe() { # MODE NAME -> 0 when it runs /bin/true
    local cmd
    cmd=$(lcmd "$1" "$2" true probe)
    # shellcheck disable=SC2086
    as "$1" $cmd >"$TMP/probe.out" 2>&1
}

if [ -z "$CRUN_SKIP" ] && ! probe root crun; then
    if grep -q "hybrid" "$TMP/probe.out" && mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
        # crun refuses a hybrid cgroup layout (v1 controllers plus a
        # cgroup2 at /sys/fs/cgroup/unified), even with cgroups disabled.
        # Every launcher measurement then runs in a private mount namespace
        # where that cgroup2 mount is hidden (made private first, so the
        # unmount never reaches the host); propagation is left unchanged.
        LWRAP=(unshare --mount --propagation unchanged sh -c
            'mount --make-private /sys/fs/cgroup/unified && umount /sys/fs/cgroup/unified && exec "$@"' sh)
        LWRAP_NOTE="crun refuses this machine's hybrid cgroup layout (cgroup v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) even with --cgroup-manager=disabled; so that it runs, every launcher measurement (all contenders alike) ran in a private mount namespace (unshare --mount --propagation unchanged) where that one cgroup2 mount was unmounted."
        probe root crun || CRUN_SKIP="crun fails here: $(head -c 300 "$TMP/probe.out" | tr '\n' ' ')"
    else
        CRUN_SKIP="crun fails here: $(head -c 300 "$TMP/probe.out" | tr '\n' ' ')"
    fi
fi
[ -n "$CRUN_SKIP" ] && say "skipping crun: $CRUN_SKIP"

declare -A ACTIVE # "mode" -> launcher names that run in that mode
declare -A SKIPPED # "mode/name" -> why
for mode in rootless root; do
    ACTIVE[$mode]=""
    for l in "${LAUNCHERS[@]}"; do
        if [ "$l" = crun ] && [ -n "$CRUN_SKIP" ]; then
            SKIPPED[$mode/$l]=$CRUN_SKIP
            continue
        fi
        if probe "$mode" "$l"; then
            ACTIVE[$mode]="${ACTIVE[$mode]} $l"
        else
            SKIPPED[$mode/$l]="fails: $(head -c 300 "$TMP/probe.out" | tr '\n' ' ')"
            [ "$l" = nslaunch ] && die "nslaunch fails $mode: $(cat "$TMP/probe.out")"
            say "skipping $l ($mode): ${SKIPPED[$mode/$l]}"
        fi
    done
    probe "$mode" nslaunch-unconfined || die "nslaunch --seccomp unconfined fails $mode: $(cat "$TMP/probe.out")"
done
in_mode() { [[ " ${ACTIVE[$1]} " == *" $2 "* ]]; }

RES=$TMP/res
chmod 777 "$RES"

# --- launcher: latency --------------------------------------------------------

# The launchers of MODE (default: the active ones) in ROUNDS rounds of RUNS
# runs each (default: LAT_ROUNDS, LAT_RUNS), rotating; the times (ms) of
# launcher NAME are appended to $RES/PREFIX-MODE-NAME (default PREFIX: lat),
# and each round's mean CPU time (ms, user + system of the launcher and
# every process it waited for) to $RES/PREFIX-cpu-MODE-NAME.
bench_latency() { # MODE [PREFIX ROUNDS RUNS NAME...]
    local mode=$1 pre=${2:-lat} rounds=${3:-$LAT_ROUNDS} runs=${4:-$LAT_RUNS} r names l json args
    if [ $# -gt 4 ]; then names=("${@:5}"); else read -ra names <<<"${ACTIVE[$mode]}"; fi
    for ((r = 0; r < rounds; r++)); do
        args=()
        while read -r l; do
            args+=(-n "$l" "$(lcmd "$mode" "$l" true bench-h)")
        done < <(rotate "$r" "${names[@]}")
        json=$RES/$pre-$mode-$r.json
        as "$mode" hyperfine -N --style none --warmup "$WARMUP" --runs "$runs" \
            --export-json "$json" "${args[@]}" >/dev/null 2>"$RES/hyperfine.err" ||
            die "hyperfine failed ($mode): $(tail -5 "$RES/hyperfine.err")"
        jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$json" |
            while read -r l t; do echo "$t" >>"$RES/$pre-$mode-$l"; done
        jq -r '.results[] | "\(.command) \((.user + .system) * 1000)"' "$json" |
            while read -r l t; do echo "$t" >>"$RES/$pre-cpu-$mode-$l"; done
    done
}

# --- launcher: 200 in a row, 50 at once ----------------------------------------

bench_burst() { # MODE
    local mode=$1 rep l line names cmd
    read -ra names <<<"${ACTIVE[$mode]}"
    for ((rep = 0; rep < BURST_REPS; rep++)); do
        while read -r l; do
            cmd=$(lcmd "$mode" "$l" true "b$rep-{}")
            # shellcheck disable=SC2086
            line=$(as "$mode" "$BIN/burst" -n "$SEQ_N" -j 1 -q -e "$RES/burst-err-$mode-$l" -- $cmd)
            echo "$line" | sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' >>"$RES/seq-$mode-$l"
            echo "$line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p' >>"$RES/seqfail-$mode-$l"
            # shellcheck disable=SC2086
            line=$(as "$mode" "$BIN/burst" -n "$PAR_N" -j "$PAR_N" -q -e "$RES/burst-err-$mode-$l" -- $cmd)
            echo "$line" | sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' >>"$RES/par-$mode-$l"
            echo "$line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p' >>"$RES/parfail-$mode-$l"
        done < <(rotate "$rep" "${names[@]}")
    done
}

# --- launcher: memory ------------------------------------------------------------

bench_memory() { # MODE
    local mode=$1 rep l names cmd
    read -ra names <<<"${ACTIVE[$mode]}"
    for ((rep = 0; rep < MEM_RUNS; rep++)); do
        while read -r l; do
            cmd=$(lcmd "$mode" "$l" true "m$rep")
            # shellcheck disable=SC2086
            as "$mode" /usr/bin/time -f %M -o "$RES/time-$mode.out" $cmd >/dev/null 2>&1 || true
            tail -1 "$RES/time-$mode.out" >>"$RES/maxrss-$mode-$l"
        done < <(rotate "$rep" "${names[@]}")
    done
    # The processes alive while the command (sleep 0.5) runs: the launcher's
    # own, peak (VmHWM) each, sampled after 250 ms.
    for ((rep = 0; rep < TREE_RUNS; rep++)); do
        while read -r l; do
            cmd=$(lcmd "$mode" "$l" sleep "t$rep")
            # shellcheck disable=SC2086
            as "$mode" "$BIN/memtree" 250 -- $cmd >"$RES/tree.out" 2>/dev/null || true
            awk '/^pid=/ { split($0, f, /[= ]/); name = f[6]; kb = f[8]
                    if (name == "sleep") next
                    if (f[4] == 0) top = kb; sum += kb; procs = procs (procs ? "+" : "") name }
                 END { print top, sum, procs }' "$RES/tree.out" >>"$RES/tree-$mode-$l"
        done < <(rotate "$rep" "${names[@]}")
    done
}

# --- launcher: where the time goes (tracefs) ----------------------------------

TRACE_SKIP=""
setup_trace() {
    local tr=/sys/kernel/tracing e d
    [ -d "$tr/instances" ] || tr=/sys/kernel/debug/tracing
    if [ ! -d "$tr/instances" ]; then
        TRACE_SKIP="tracefs is not mounted (/sys/kernel/tracing)"
        return
    fi
    if [ ! -d "$tr/events/syscalls/sys_enter_mount" ]; then
        TRACE_SKIP="this kernel has no syscall trace events (CONFIG_FTRACE_SYSCALLS)"
        return
    fi
    TRACE_DIR=$tr/instances/nslaunch-bench-$$
    mkdir "$TRACE_DIR" || { TRACE_SKIP="cannot create a tracefs instance"; TRACE_DIR=""; return; }
    echo 0 >"$TRACE_DIR/tracing_on"
    if grep -qw mono "$TRACE_DIR/trace_clock"; then echo mono >"$TRACE_DIR/trace_clock"; else echo global >"$TRACE_DIR/trace_clock"; fi
    echo 1 >"$TRACE_DIR/options/event-fork"
    echo 2048 >"$TRACE_DIR/buffer_size_kb"
    for e in clone clone3 execve execveat mount open_tree move_mount pivot_root umount write poll; do
        for d in enter exit; do
            [ -e "$TRACE_DIR/events/syscalls/sys_${d}_$e/enable" ] && echo 1 >"$TRACE_DIR/events/syscalls/sys_${d}_$e/enable"
        done
    done
    for e in sched_process_fork sched_process_exec sched_process_exit; do
        echo 1 >"$TRACE_DIR/events/sched/$e/enable"
    done
}

bench_trace() { # MODE
    local mode=$1 rep l names cmd detail u=()
    read -ra names <<<"${ACTIVE[$mode]}"
    [ "$mode" = rootless ] && u=(-u "$U_UID" -g "$U_GID")
    for ((rep = 0; rep < TRACE_RUNS; rep++)); do
        while read -r l; do
            cmd=$(lcmd "$mode" "$l" true "tr$rep")
            echo >"$TRACE_DIR/trace"
            # shellcheck disable=SC2086
            "${LWRAP[@]}" env -i PATH="$STD_PATH" HOME="$UHOME" LANG=C \
                "$BIN/traceexec" "$TRACE_DIR" "${u[@]}" -- $cmd >/dev/null 2>&1 || true
            echo 0 >"$TRACE_DIR/tracing_on"
            detail=0
            [ "$l" = nslaunch ] && detail=1
            awk -v payload=/bin/true -v detail="$detail" -f "$HERE/phases.awk" "$TRACE_DIR/trace" |
                while IFS=$'\t' read -r key v label; do
                    echo "$v" >>"$RES/phase-$mode-$l-$key"
                    printf '%s\t%s\n' "$key" "$label" >>"$RES/phase-labels"
                done
        done < <(rotate "$rep" "${names[@]}")
    done
}

# --- OCI runtime: one bundle's lifecycle, and podman ---------------------------

# nslaunch speaks runc's command line. The lifecycle of one
# bundle: nslaunch against runc and crun (crun as above: no cgroup, and in
# $LWRAP, where all three run alike). Each runtime's state lives in its own
# --root beside the bundle's config.json.
OCI_RUNTIMES=(nslaunch runc crun)
RUNC=$(command -v runc 2>/dev/null || true)
declare -A OCMD=([nslaunch]="$BIN/nslaunch" [runc]="$RUNC" [crun]="crun --cgroup-manager=disabled")
declare -A OCI_ACTIVE=() OSKIP=()

# The bundle of MODE, $TMP/oci-MODE: `nslaunch spec` (rootless: `spec
# --rootless`, made as the test user, so that its id mappings are that
# user's), running /bin/true with no terminal on the bench's rootfs.
# Rootless, /sys is bound from the host (rbind, ro) as `runc spec
# --rootless` has it: runc cannot mount a sysfs in a user namespace that
# owns no network namespace.
oci_bundle() { # MODE
    local mode=$1 dir=$TMP/oci-$1 x sp=() sys='.'
    mkdir -p "$dir"
    if [ "$mode" = rootless ]; then
        chown "$U_UID:$U_GID" "$dir"
        sp=(--rootless)
        sys='.mounts |= map(if .type == "sysfs" then {destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"]} else . end)'
    fi
    as "$mode" "$BIN/nslaunch" spec --bundle "$dir" "${sp[@]}" >/dev/null 2>"$TMP/probe.out" ||
        die "nslaunch spec fails ($mode): $(cat "$TMP/probe.out")"
    jq --arg root "$R" '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root | '"$sys" \
        "$dir/config.json" >"$dir/config.new" || die "cannot adjust $dir/config.json"
    mv "$dir/config.new" "$dir/config.json"
    for x in "${OCI_RUNTIMES[@]}"; do mkdir -p "$dir/state-$x"; done
    [ "$mode" = rootless ] && chown -R "$U_UID:$U_GID" "$dir"
    chmod -R a+rX "$dir"
}

# N lifecycles (after WARM unrecorded ones) of runtime NAME in MODE: their
# times appended to OUT, failures to ERR; prints ocicycle's summary line.
oci_cycle() { # MODE NAME N WARM OUT ERR
    local mode=$1 x=$2 dir=$TMP/oci-$1
    # shellcheck disable=SC2086
    as "$mode" "$BIN/ocicycle" -n "$3" -w "$4" -o "$5" -e "$6" -b "$dir" -p "$dir/$x.pid" -i "bench-$x" \
        -- ${OCMD[$x]} --root "$dir/state-$x"
}

oci_setup() {
    local mode x line
    for mode in rootless root; do
        oci_bundle "$mode"
        OCI_ACTIVE[$mode]=""
        for x in "${OCI_RUNTIMES[@]}"; do
            if [ "$x" = runc ] && [ -z "$RUNC" ]; then
                OSKIP[$mode/$x]="runc is not installed and could not be installed"
            elif [ "$x" = crun ] && [ -n "$CRUN_SKIP" ]; then
                OSKIP[$mode/$x]=$CRUN_SKIP
            else
                rm -f "$RES/oci-probe.err"
                line=$(oci_cycle "$mode" "$x" 1 0 /dev/null "$RES/oci-probe.err" 2>&1 || true)
                if [[ $line == *" failures=0 "* ]]; then
                    OCI_ACTIVE[$mode]="${OCI_ACTIVE[$mode]} $x"
                    continue
                fi
                [ -s "$RES/oci-probe.err" ] || echo "$line" >"$RES/oci-probe.err"
                OSKIP[$mode/$x]="fails: $(oneline "$RES/oci-probe.err")"
            fi
            say "OCI lifecycle: skipping $x ($mode): ${OSKIP[$mode/$x]}"
        done
    done
}
# oneline FILE: its first 400 bytes on one line, fit for a table cell
oneline() { head -c 400 "$1" 2>/dev/null | tr -d '\000' | tr '\n|' ' /' || true; }
in_oci() { [[ " ${OCI_ACTIVE[$1]} " == *" $2 "* ]]; }

bench_oci() { # MODE
    local mode=$1 r x names
    read -ra names <<<"${OCI_ACTIVE[$mode]}"
    for ((r = 0; r < OCI_ROUNDS; r++)); do
        while read -r x; do
            oci_cycle "$mode" "$x" "$OCI_RUNS" 1 "$RES/oci-$mode-$x" "$RES/ocierr-$mode-$x" >>"$RES/ocisum-$mode-$x" ||
                echo "samples=$OCI_RUNS failures=$OCI_RUNS (ocicycle failed)" >>"$RES/ocisum-$mode-$x"
        done < <(rotate "$r" "${names[@]}")
    done
}

# podman run --rm IMG true, with nslaunch and with runc as --runtime. podman
# runs outside $LWRAP (crun is not among these contenders), from $TMP, with
# the bench's own containers.conf (CONTAINERS_CONF): default_ulimits = []
# (the hard nofile limit may be below podman's default, and raising it
# needs CAP_SYS_RESOURCE), cgroupfs (no systemd needed), nslaunch among
# the runtimes given --log-format json as runc is. Rootless, as the test
# user, with HOME (so its image store) and XDG_RUNTIME_DIR in $TMP: a
# store, run directory and pause process of the bench's own.
POD_RUNTIMES=(nslaunch runc)
declare -A PRT=([nslaunch]="$BIN/nslaunch" [runc]="$RUNC")
declare -A POD_ACTIVE=() PSKIP=() PODINFO=()
PODMAN_DIR=$TMP/podman
pod() { # MODE CMD...: CMD as MODE for podman
    local mode=$1 e=(CONTAINERS_CONF="$PODMAN_DIR/containers.conf")
    shift
    [ "$mode" = rootless ] && e+=(XDG_RUNTIME_DIR="$PODMAN_RUN")
    local LWRAP=() # as() runs its command in LWRAP: not podman
    (cd "$TMP" && as "$mode" "${e[@]}" "$@")
}

podman_setup() {
    local mode x why=""
    command -v podman >/dev/null 2>&1 || why="podman is not installed and could not be installed"
    [ -z "$why" ] && [ -z "$RUNC" ] && why="runc (podman's baseline here) is not installed and could not be installed"
    mkdir -p "$PODMAN_DIR" "$PODMAN_RUN"
    chown "$U_UID:$U_GID" "$PODMAN_RUN"
    chmod 700 "$PODMAN_RUN"
    printf '%s\n' '[containers]' 'default_ulimits = []' '[engine]' 'cgroup_manager = "cgroupfs"' \
        'events_logger = "file"' 'runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "nslaunch"]' \
        >"$PODMAN_DIR/containers.conf"
    tar -C "$ROOTFS" -cf "$PODMAN_DIR/busybox.tar" .
    chmod -R a+rX "$PODMAN_DIR"
    for mode in rootless root; do
        POD_ACTIVE[$mode]=""
        if [ -n "$why" ]; then
            PSKIP[$mode]=$why
        elif ! pod "$mode" podman import -q "$PODMAN_DIR/busybox.tar" "$PODMAN_IMG" >"$TMP/probe.out" 2>&1; then
            PSKIP[$mode]="podman import fails: $(oneline "$TMP/probe.out")"
        else
            PODMAN_IMPORTED[$mode]=1
            x=$(pod "$mode" podman info --format '{{.Store.GraphDriverName}} {{.Host.NetworkBackend}}' 2>/dev/null || true)
            if [ "$mode" = rootless ]; then
                PODINFO[$mode]="storage ${x%% *}, network slirp4netns"
            else
                PODINFO[$mode]="storage ${x%% *}, network ${x#* }"
            fi
            for x in "${POD_RUNTIMES[@]}"; do
                if pod "$mode" podman --runtime "${PRT[$x]}" run --rm "$PODMAN_IMG" true >"$TMP/probe.out" 2>&1; then
                    POD_ACTIVE[$mode]="${POD_ACTIVE[$mode]} $x"
                else
                    PSKIP[$mode/$x]="fails: $(oneline "$TMP/probe.out")"
                    say "podman: $x ($mode): ${PSKIP[$mode/$x]}"
                fi
            done
            in_podman "$mode" runc || PSKIP[$mode]="podman with runc, the baseline, ${PSKIP[$mode/runc]}"
        fi
        if [ -n "${PSKIP[$mode]:-}" ]; then
            POD_ACTIVE[$mode]=""
            say "podman: skipping $mode: ${PSKIP[$mode]}"
        fi
    done
    return 0
}
in_podman() { [[ " ${POD_ACTIVE[$1]} " == *" $2 "* ]]; }

bench_podman() { # MODE
    local mode=$1 r x t names json args
    read -ra names <<<"${POD_ACTIVE[$mode]}"
    for ((r = 0; r < POD_ROUNDS; r++)); do
        args=()
        while read -r x; do
            args+=(-n "$x" "podman --runtime ${PRT[$x]} run --rm $PODMAN_IMG true")
        done < <(rotate "$r" "${names[@]}")
        json=$RES/pod-$mode-$r.json
        if ! pod "$mode" hyperfine -N --style none --warmup 1 --runs "$POD_RUNS" \
            --export-json "$json" "${args[@]}" >/dev/null 2>"$RES/hyperfine.err"; then
            # A run failed: the round's times are dropped, the failure is reported.
            echo "round $r: $(tail -3 "$RES/hyperfine.err" | tr '\n' ' ')" >>"$RES/podfail-$mode"
            continue
        fi
        jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$json" |
            while read -r x t; do echo "$t" >>"$RES/pod-$mode-$x"; done
    done
}

# --- networking: a published port ----------------------------------------------

# Rootless, as $TEST_USER: bench/tcpbench.c serves in the container on its
# port 5000, published at 127.0.0.1:PORT, and the host measures through
# it: throughput (NET_MIB MiB over one connection) and connection rate
# (NET_CONNS connections, each until the server closed it). Contenders:
# nslaunch --network pasta and slirp4netns, rootless podman with
# slirp4netns (its default port handler), and nslaunch --network host (no
# helper: the ceiling). Each is started, measured NET_ROUNDS times
# alternating with the others, and stopped.
NETS=(host pasta slirp4netns podman)
declare -A NSKIP=() NPID=() NCID=()
net_port() { # a free port on the host's loopback
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
net_wait_ready() { # FILE PID: until it says ready (60 s at most), or PID exits
    local i
    for ((i = 0; i < 6000; i++)); do
        grep -q '^ready' "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
net_start() { # NAME PORT
    local n=$1 port=$2 out=$RES/net-$1.out cmd=()
    : >"$out"
    chmod 666 "$out"
    case $n in
    host) cmd=("$BIN/nslaunch" --rootfs "$ROOTFS" -- /bin/tcpbench serve "$port") ;;
    pasta | slirp4netns) cmd=("$BIN/nslaunch" --rootfs "$ROOTFS" --network "$n" -p "127.0.0.1:$port:5000"
        -- /bin/tcpbench serve 5000) ;;
    podman)
        if ! in_podman rootless runc; then
            NSKIP[$n]="rootless podman ${PSKIP[rootless]:-does not run}"
            return 1
        fi
        NCID[$n]=$(pod rootless podman --runtime "$RUNC" run -d --network slirp4netns \
            -p "127.0.0.1:$port:5000" "$PODMAN_IMG" /bin/tcpbench serve 5000 2>"$out.err") || {
            NSKIP[$n]="podman run fails: $(oneline "$out.err")"
            return 1
        }
        local i
        for ((i = 0; i < 6000; i++)); do
            pod rootless podman logs "${NCID[$n]}" 2>/dev/null | grep -q '^ready' && return 0
            sleep 0.01
        done
        NSKIP[$n]="podman's container never said ready"
        return 1
        ;;
    esac
    as rootless "${cmd[@]}" >"$out" 2>&1 &
    NPID[$n]=$!
    BG_PIDS="$BG_PIDS $!"
    net_wait_ready "$out" "${NPID[$n]}" || {
        NSKIP[$n]="never ready: $(oneline "$out")"
        return 1
    }
}
net_stop() { # NAME
    local n=$1
    if [ -n "${NPID[$n]:-}" ]; then
        kill_tree TERM "${NPID[$n]}"
        wait "${NPID[$n]}" 2>/dev/null || true
        NPID[$n]=""
    fi
    if [ -n "${NCID[$n]:-}" ]; then
        pod rootless podman rm -f -t 0 "${NCID[$n]}" >/dev/null 2>&1 || say "could not remove podman container ${NCID[$n]}"
        NCID[$n]=""
    fi
}
bench_network() {
    local r n port line
    declare -A NPORT=()
    for n in "${NETS[@]}"; do
        port=$(net_port)
        NPORT[$n]=$port
        net_start "$n" "$port" || { say "network: skipping $n: ${NSKIP[$n]}"; net_stop "$n"; }
    done
    for ((r = 0; r < NET_ROUNDS; r++)); do
        while read -r n; do
            [ -n "${NSKIP[$n]:-}" ] && continue
            line=$(as rootless "$BIN/tcpbench" send "${NPORT[$n]}" "$NET_MIB" 2>&1 || true)
            echo "$line" | sed -n 's/^mib_s=//p' >>"$RES/net-tput-$n"
            line=$(as rootless "$BIN/tcpbench" conns "${NPORT[$n]}" "$NET_CONNS" 2>&1 || true)
            echo "$line" | sed -n 's/^conns_s=\([0-9.]*\).*/\1/p' >>"$RES/net-conns-$n"
            echo "$line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p' >>"$RES/net-fail-$n"
        done < <(rotate "$r" "${NETS[@]}")
    done
    for n in "${NETS[@]}"; do net_stop "$n"; done
    # What the helper adds to a launch: /bin/true with each network.
    local args=()
    for n in none pasta slirp4netns; do
        args+=(-n "$n" "$BIN/nslaunch --rootfs $ROOTFS --network $n /bin/true")
    done
    as rootless hyperfine -N --style none --warmup 2 --runs "$NET_LAUNCH_RUNS" \
        --export-json "$RES/net-launch.json" "${args[@]}" >/dev/null 2>"$RES/net-launch.err" ||
        say "network: launch times failed: $(oneline "$RES/net-launch.err")"
    if [ -f "$RES/net-launch.json" ]; then
        jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$RES/net-launch.json" |
            while read -r n t; do echo "$t" >>"$RES/net-launch-$n"; done
    fi
}

# --- the inits ------------------------------------------------------------------

INITS=(nsinit tini catatonit dumb-init)
declare -A ICMD=(
    [nsinit]="$BIN/nsinit --"
    [tini]="tini-static --"
    [dumb-init]="dumb-init"
    [catatonit]="catatonit --"
)
declare -A IBIN=([nsinit]="$NSINIT_SRC" [tini]="$(command -v tini-static)"
    [dumb-init]="$(command -v dumb-init)" [catatonit]="$(command -v catatonit)")
declare -A INAME=([nsinit]=nsinit [tini]="tini-static" [dumb-init]=dumb-init [catatonit]=catatonit)
# --kill-child: should this script die, the init and its namespace go too.
PID1=(unshare --pid --fork --kill-child --mount-proc)

bench_orphans() {
    local rep i line
    for ((rep = 0; rep < ORPH_REPS; rep++)); do
        while read -r i; do
            # shellcheck disable=SC2086
            line=$(env -i PATH="$STD_PATH" "$BIN/burst" -n 1 -j 1 -- "${PID1[@]}" ${ICMD[$i]} "$BIN/orphans" "$ORPH_N")
            echo "$line" | sed -n 's/.*reap_ms=\([0-9.]*\).*/\1/p' >>"$RES/orph-reap-$i"
            echo "$line" | sed -n 's/.*left=\([0-9]*\).*/\1/p' >>"$RES/orph-left-$i"
            echo "$line" | sed -n 's/.*pid1_cpu_ms=\([0-9.]*\).*/\1/p' >>"$RES/orph-cpu-$i"
            echo "$line" | sed -n 's/.*pid1_hwm_kb=\([0-9]*\).*/\1/p' >>"$RES/orph-hwm-$i"
            echo "$line" | sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' | awk '{ print $1 * 1000 }' >>"$RES/orph-total-$i"
            echo "$line" | sed -n 's/.*failures=\([0-9]*\).*/\1/p' >>"$RES/orph-fail-$i"
        done < <(rotate "$rep" "${INITS[@]}")
    done
}

# Twice: with everything (sender, init, receiver) pinned to one CPU, which
# measures the inits' own code paths; and free to use both CPUs, where a
# wake-up may have to rouse an idle virtual CPU first (tens of µs here),
# so that a run's median depends on where the scheduler put the three.
SIG_CPU=$(($(nproc) - 1))
bench_signals() {
    local rep i cfg pin
    for ((rep = 0; rep < SIG_REPS; rep++)); do
        for cfg in onecpu free; do
            pin=()
            [ "$cfg" = onecpu ] && pin=(taskset -c "$SIG_CPU")
            while read -r i; do
                # shellcheck disable=SC2086
                env -i PATH="$STD_PATH" "${pin[@]}" "$BIN/sigping" send "$SIG_N" "$TMP/ping.fifo" "$RES/sig-$cfg-$i" -- \
                    "${PID1[@]}" ${ICMD[$i]} "$BIN/sigping" recv "$TMP/ping.fifo" >>"$RES/sig-summary-$cfg-$i" ||
                    say "sigping failed under $i"
            done < <(rotate "$rep" "${INITS[@]}")
        done
    done
}

# The init's PID: the only child of unshare (PID $1).
child_of() {
    local t
    for t in $(seq 200); do
        c=$(cat "/proc/$1/task/$1/children" 2>/dev/null | awk '{ print $1 }')
        [ -n "$c" ] && { echo "$c"; return; }
        sleep 0.01
    done
}
switches() { awk '/^(non)?voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }' "/proc/$1/status"; }

bench_idle() {
    local i u p
    declare -A upid ipid before
    for i in "${INITS[@]}"; do
        # shellcheck disable=SC2086
        env -i PATH="$STD_PATH" "${PID1[@]}" ${ICMD[$i]} sleep $((IDLE_S + 30)) &
        upid[$i]=$!
        BG_PIDS="$BG_PIDS $!"
    done
    sleep 1 # let them settle
    for i in "${INITS[@]}"; do
        ipid[$i]=$(child_of "${upid[$i]}")
        before[$i]=$(switches "${ipid[$i]}")
    done
    sleep "$IDLE_S" & # waited for with `wait`, which a signal interrupts
    BG_PIDS="$BG_PIDS $!"
    wait $!
    for i in "${INITS[@]}"; do
        p=${ipid[$i]}
        echo $(($(switches "$p") - ${before[$i]})) >"$RES/idle-$i"
        awk '/^VmHWM/ { print $2 }' "/proc/$p/status" >"$RES/idle-hwm-$i"
        kill -TERM "$p" # forwarded to sleep, then the init exits
    done
    for i in "${INITS[@]}"; do
        wait "${upid[$i]}" 2>/dev/null || true
    done
    BG_PIDS=""
}

bench_startup() {
    local r i args json names=(true "${INITS[@]}")
    declare -A bare=([true]="/bin/true" [nsinit]="$BIN/nsinit -- /bin/true" [tini]="tini-static -s -- /bin/true"
        [dumb-init]="dumb-init /bin/true" [catatonit]="catatonit -- /bin/true")
    for ((r = 0; r < START_ROUNDS; r++)); do
        args=()
        while read -r i; do
            args+=(-n "bare-$i" "${bare[$i]}")
            if [ "$i" = true ]; then
                args+=(-n "pid1-$i" "unshare --pid --fork /bin/true")
            else
                args+=(-n "pid1-$i" "unshare --pid --fork ${ICMD[$i]} /bin/true")
            fi
        done < <(rotate "$r" "${names[@]}")
        json=$RES/start-$r.json
        env -i PATH="$STD_PATH" hyperfine -N --style none --warmup "$WARMUP" --runs "$START_RUNS" \
            --export-json "$json" "${args[@]}" >/dev/null 2>"$RES/hyperfine.err" ||
            die "hyperfine failed (start-up): $(tail -5 "$RES/hyperfine.err")"
        jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$json" |
            while read -r i t; do echo "$t" >>"$RES/start-$i"; done
    done
}

# --- launcher: a cached tarball against a directory -------------------------------

# The busybox rootfs plus TAR_MB MiB of random data, as an uncompressed
# tarball, rootless: the first launch (hash + unpack), launches known by
# the cache's stat index, launches whose archive was just touched (a fresh
# ctime: hashed again, the entry reused), and the directory itself, with
# and without the overlay a tarball always runs on.
bench_tarball() {
    local tar=$TMP/big.tar big=$TMP/bigroot json=$RES/tarball.json t0 t1 c t
    mkdir -p "$big"
    cp -a "$ROOTFS/." "$big/"
    head -c "$((TAR_MB << 20))" /dev/urandom >"$big/big"
    tar -cf "$tar" -C "$big" .
    rm -rf "$big"
    chown "$U_UID:$U_GID" "$tar"
    t0=$(date +%s%N)
    as rootless "$BIN/nslaunch" --rootfs "$tar" /bin/true >/dev/null 2>"$RES/tar.err" ||
        die "tarball: the first launch failed: $(cat "$RES/tar.err")"
    t1=$(date +%s%N)
    TAR_FIRST=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')
    # The index records an archive whose ctime is 2 s older than the
    # hashing: let it age, then one launch records it.
    sleep 3
    as rootless "$BIN/nslaunch" --rootfs "$tar" /bin/true
    as rootless hyperfine -N --style none --warmup 2 --runs "$TAR_RUNS" --export-json "$json" \
        --prepare true --prepare true --prepare true --prepare "touch $tar" \
        -n dir "$BIN/nslaunch --rootfs $ROOTFS /bin/true" \
        -n dir-overlay "$BIN/nslaunch --overlay --rootfs $ROOTFS /bin/true" \
        -n indexed "$BIN/nslaunch --rootfs $tar /bin/true" \
        -n rehashed "$BIN/nslaunch --rootfs $tar /bin/true" >/dev/null 2>"$RES/hyperfine.err" ||
        die "hyperfine failed (tarball): $(tail -5 "$RES/hyperfine.err")"
    jq -r '.results[] | .command as $c | .times[] | "\($c) \(. * 1000)"' "$json" |
        while read -r c t; do echo "$t" >>"$RES/tar-$c"; done
}

# --- seccomp: what the default filter costs ----------------------------------------

# The launch latency of nslaunch with its default filter, with --seccomp
# unconfined and of bubblewrap (which loads no filter unless given one),
# in the same rounds, as bench_latency measures the launchers.
bench_seccomp_latency() { # MODE
    local mode=$1 names=(nslaunch nslaunch-unconfined)
    in_mode "$mode" bwrap && names+=(bwrap)
    bench_latency "$mode" seclat "$SEC_ROUNDS" "$SEC_RUNS" "${names[@]}"
}

# A syscall in a tight loop (bench/syscost.c, copied into the rootfs as
# /bin/syscost), rootless: outside any container, in nslaunch with
# --seccomp unconfined, with a profile that allows everything (the floor:
# what any filter costs) and with the default filter, in SYS_ROUNDS
# rounds, rotating; one process per contender and round, SYS_BATCHES
# batches of SYS_N calls each. ns per call, per batch, go to
# $RES/sys-WHERE-CALL.
SYS_WHERE=(outside unconfined allowall default)
SYS_ALLOWALL=$TMP/allow-all.json
bench_syscost() {
    local r x call ns cmd
    echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []}' >"$SYS_ALLOWALL"
    chmod 644 "$SYS_ALLOWALL"
    for ((r = 0; r < SYS_ROUNDS; r++)); do
        while read -r x; do
            case $x in
            outside) cmd=("$BIN/syscost") ;;
            unconfined) cmd=("$BIN/nslaunch" --seccomp unconfined --rootfs "$R" /bin/syscost) ;;
            allowall) cmd=("$BIN/nslaunch" --seccomp "$SYS_ALLOWALL" --rootfs "$R" /bin/syscost) ;;
            default) cmd=("$BIN/nslaunch" --rootfs "$R" /bin/syscost) ;;
            esac
            if as rootless "${cmd[@]}" "$SYS_BATCHES" "$SYS_N" >"$RES/sys.out" 2>"$RES/sys.err"; then
                while read -r call ns; do echo "$ns" >>"$RES/sys-$x-$call"; done <"$RES/sys.out"
            else
                echo "round $r: $(oneline "$RES/sys.err")" >>"$RES/syserr-$x"
            fi
        done < <(rotate "$r" "${SYS_WHERE[@]}")
    done
}

# The filter's build time and shape, from `nslaunch --verbose` ("build the
# seccomp filter: X ms", "seccomp: SUMMARY (N instructions, ...)"),
# rootless: the built-in default and, where podman installed it, podman's
# profile read from its JSON file; SECBUILD_RUNS launches each, alternating.
SECBUILD_PODMAN=/usr/share/containers/seccomp.json
SECBUILD=(default)
bench_secbuild() {
    local r x sel
    [ -r "$SECBUILD_PODMAN" ] && SECBUILD+=(podman)
    for ((r = 0; r < SECBUILD_RUNS; r++)); do
        while read -r x; do
            sel=default
            [ "$x" = podman ] && sel=$SECBUILD_PODMAN
            if as rootless "$BIN/nslaunch" --verbose --seccomp "$sel" --rootfs "$R" /bin/true \
                >/dev/null 2>"$RES/secbuild.err"; then
                sed -n 's/.*: build the seccomp filter: \([0-9.]*\) ms.*/\1/p' "$RES/secbuild.err" >>"$RES/secbuild-$x"
                sed -n 's/^nslaunch\[[^]]*\]: seccomp: //p' "$RES/secbuild.err" | tail -1 >"$RES/secshape-$x"
            else
                oneline "$RES/secbuild.err" >"$RES/secbuild-fail-$x"
            fi
        done < <(rotate "$r" "${SECBUILD[@]}")
    done
}

# --- a quiet machine ---------------------------------------------------------------

# The machine is shared: when other work keeps both CPUs busy, every launch
# waits for a CPU and all contenders look alike. Before each section, wait
# (up to QUIET_WAIT seconds) until the CPUs are at least QUIET_IDLE% idle
# over one second; then go on either way, and say in the report what it was.
QUIET_IDLE=${BENCH_QUIET_IDLE:-70}
QUIET_WAIT=${BENCH_QUIET_WAIT:-180}
[ "$QUICK" = 1 ] && QUIET_WAIT=0
cpu_idle() { # percent of CPU time idle over one second
    local a b
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
    echo "$a $b" | awk '{ t = $3 - $1; print (t > 0) ? int(100 * ($4 - $2) / t) : 100 }'
}
QUIET_LOG=""
wait_quiet() { # SECTION
    local idle waited=0
    idle=$(cpu_idle)
    while [ "$idle" -lt "$QUIET_IDLE" ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
        [ "$waited" = 0 ] && say "the CPUs are only $idle% idle; waiting up to ${QUIET_WAIT}s for other work to calm down"
        sleep 4
        waited=$((waited + 5))
        idle=$(cpu_idle)
    done
    local note=""
    if [ "$waited" -gt 0 ]; then note=" after waiting ${waited}s"; fi
    QUIET_LOG="$QUIET_LOG${QUIET_LOG:+; }$1: $idle% idle$note"
}

# --- run it all -------------------------------------------------------------------

T_BEGIN=$(date +%s)
LOAD_BEGIN=$(cut -d' ' -f1-3 /proc/loadavg)
LOAD_MID=""
for mode in rootless root; do
    wait_quiet "launcher $mode"
    say "launcher, $mode: latency (${ACTIVE[$mode]# })"
    bench_latency "$mode"
    say "launcher, $mode: $SEQ_N in a row, $PAR_N at once"
    bench_burst "$mode"
    say "launcher, $mode: memory"
    bench_memory "$mode"
done
setup_trace
if [ -z "$TRACE_SKIP" ]; then
    wait_quiet "breakdown"
    for mode in rootless root; do
        say "launcher, $mode: start-up breakdown (tracefs, $TRACE_RUNS runs each)"
        bench_trace "$mode"
    done
else
    say "skipping the start-up breakdown: $TRACE_SKIP"
fi
wait_quiet "tarball"
say "launcher, rootless: a ${TAR_MB} MiB tarball, cached, against a directory"
bench_tarball
wait_quiet "seccomp"
for mode in rootless root; do
    say "seccomp, $mode: launch latency with the default filter, unconfined, bubblewrap"
    bench_seccomp_latency "$mode"
done
say "seccomp: a syscall in a tight loop, filtered and not ($SYS_ROUNDS rounds)"
bench_syscost
say "seccomp: the filter's build time and size"
bench_secbuild
wait_quiet "OCI runtime"
oci_setup
podman_setup
for mode in rootless root; do
    say "OCI runtime, $mode: lifecycle of one bundle (${OCI_ACTIVE[$mode]# })"
    bench_oci "$mode"
    if [ -n "${POD_ACTIVE[$mode]}" ]; then
        say "OCI runtime, $mode: podman run --rm IMG true (${POD_ACTIVE[$mode]# })"
        bench_podman "$mode"
    fi
done
wait_quiet "network"
say "network, rootless: a published port (${NETS[*]}), and the helper's launch time"
bench_network
podman_cleanup
LOAD_MID=$(cut -d' ' -f1-3 /proc/loadavg)
wait_quiet "init"
say "init: reaping $ORPH_N orphans"
bench_orphans
say "init: signal forwarding latency"
bench_signals
say "init: idle wake-ups over ${IDLE_S}s"
bench_idle
say "init: start-up overhead"
bench_startup
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
T_END=$(date +%s)

# --- the report -------------------------------------------------------------------

REPORT=$TMP/report.md
exec 3>"$REPORT"
w() { printf '%s\n' "$*" >&3; }

ver() { "$@" 2>&1 | head -1 | tr -d '\r' || true; }
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo "?"; }
commit=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then commit="$commit (with uncommitted changes)"; fi
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
virt=$(systemd-detect-virt 2>/dev/null || true)
[ "$virt" = none ] && virt=""
[ -n "$virt" ] && virt="$virt (systemd-detect-virt)"
mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
distro=$(. /etc/os-release && echo "$PRETTY_NAME")

w "# Benchmarks"
w ""
w "nslaunch and nsinit measured side by side with their peers, in one run, on"
w "one machine. Reproduce with \`make bench\` (as root; \`BENCH_QUICK=1 make bench\`"
w "for a quick smoke run with few repetitions). This file is written by"
w "\`bench/bench.sh\`; do not edit it by hand: the hand-written analysis is"
w "\`bench/FINDINGS.md\`, included at the end."
w ""
if [ "$QUICK" = 1 ]; then
    w "> **This is a BENCH_QUICK=1 smoke run**: too few repetitions to be trusted."
    w ""
fi
w "## The machine"
w ""
w "| | |"
w "| --- | --- |"
w "| date | $(date -u '+%Y-%m-%d %H:%M UTC') ($((T_END - T_BEGIN)) s for the whole run) |"
w "| git commit | $commit |"
w "| CPU | $cpu, $(nproc) cores |"
w "| virtualization | ${virt:-none detected}$(grep -qw hypervisor /proc/cpuinfo && echo ', CPU hypervisor flag set') |"
w "| memory | $mem |"
w "| kernel | $(uname -r) |"
w "| distribution | $distro |"
w "| CPU idle before each section (it waits up to ${QUIET_WAIT}s for ≥ $QUIET_IDLE%) | $QUIET_LOG |"
w "| load average (1, 5, 15 min) | $LOAD_BEGIN at the start, $LOAD_MID after the launcher and OCI runtime benchmarks, $LOAD_END at the end (the $ORPH_N orphans count in it) |"
w "| nslaunch / nsinit | $(ver "$BIN/nslaunch" --version) / $(ver "$BIN/nsinit" --version) (release build) |"
w "| bubblewrap | $(ver bwrap --version) (Debian $(pkgver bubblewrap)) |"
w "| unshare | $(ver unshare --version) |"
w "| crun | $(if command -v crun >/dev/null; then ver crun --version; else echo none; fi) |"
w "| tini-static | $(ver tini-static --version) (Debian $(pkgver tini)) |"
w "| dumb-init | $(ver dumb-init --version) (Debian $(pkgver dumb-init)) |"
w "| catatonit | $(ver catatonit --version) (Debian $(pkgver catatonit)) |"
w "| busybox (rootfs) | Debian busybox-static $(pkgver busybox-static) |"
w "| runc | $(if [ -n "$RUNC" ]; then ver "$RUNC" --version; else echo none; fi) |"
w "| podman / conmon | $(if command -v podman >/dev/null; then echo "$(ver podman --version) / $(ver conmon --version)"; else echo none; fi) |"
w "| hyperfine | $(ver hyperfine --version) |"
w "| gcc (helpers) | $(ver gcc --version) |"
w "| rustc | $(ver rustc --version) |"
w ""

# Summary rows are collected while the sections are written, then put first.
SUMMARY=$TMP/summary.md
: >"$SUMMARY"
srow() { printf '%s\n' "$*" >>"$SUMMARY"; }

LBODY=$TMP/launcher.md
exec 4>"$LBODY"
l() { printf '%s\n' "$*" >&4; }

for mode in rootless root; do
    if [ "$mode" = rootless ]; then who="rootless (as $TEST_USER)"; else who="as root"; fi
    read -ra names <<<"${ACTIVE[$mode]}"
    l "### Launch latency, $who"
    l ""
    l "\`LAUNCHER ... /bin/true\` on the busybox rootfs; hyperfine -N, $LAT_ROUNDS rounds of $LAT_RUNS runs (after $WARMUP warm-up runs), contenders alternating."
    l ""
    l "| launcher | runs | median ms | p90 ms | nslaunch ÷ this (median) |"
    l "| --- | ---: | ---: | ---: | ---: |"
    nm=$(median "$RES/lat-$mode-nslaunch")
    for x in "${names[@]}"; do
        f=$RES/lat-$mode-$x
        l "| ${LNAME[$x]} | $(count "$f") | $(fmt "$(median "$f")" 2) | $(fmt "$(p90 "$f")" 2) | $(ratio "$nm" "$(median "$f")") |"
    done
    for x in "${LAUNCHERS[@]}"; do
        [ -n "${SKIPPED[$mode/$x]:-}" ] && l "| ${LNAME[$x]} | skipped: ${SKIPPED[$mode/$x]} | | | |"
    done
    l ""
    bm=$(median "$RES/lat-$mode-bwrap" 2>/dev/null || echo nan)
    srow "| launch latency $mode: median ≤ bubblewrap's | $(fmt "$nm" 2) ms vs $(fmt "$bm" 2) ms (ratio $(ratio "$nm" "$bm")) | $(verdict le "$nm" "$bm") |"

    l "### $SEQ_N containers one after another, $PAR_N at once, $who"
    l ""
    l "Total wall time (median of $BURST_REPS repetitions; \`bench/burst.c\` starts them; \"at once\" forks all $PAR_N first and releases them together) and failures (non-zero exits, all repetitions)."
    l ""
    l "| launcher | $SEQ_N in a row: s | failures | nslaunch ÷ this | $PAR_N at once: s | failures | nslaunch ÷ this |"
    l "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    ns=$(median "$RES/seq-$mode-nslaunch")
    np=$(median "$RES/par-$mode-nslaunch")
    for x in "${names[@]}"; do
        sf=$(awk '{ s += $1 } END { print s + 0 }' "$RES/seqfail-$mode-$x")
        pf=$(awk '{ s += $1 } END { print s + 0 }' "$RES/parfail-$mode-$x")
        l "| ${LNAME[$x]} | $(fmt "$(median "$RES/seq-$mode-$x")" 3) | $sf | $(ratio "$ns" "$(median "$RES/seq-$mode-$x")") | $(fmt "$(median "$RES/par-$mode-$x")" 3) | $pf | $(ratio "$np" "$(median "$RES/par-$mode-$x")") |"
    done
    l ""
    nsf=$(awk '{ s += $1 } END { print s + 0 }' "$RES/seqfail-$mode-nslaunch")
    npf=$(awk '{ s += $1 } END { print s + 0 }' "$RES/parfail-$mode-nslaunch")
    if [ -s "$RES/burst-err-$mode-nslaunch" ]; then
        l "nslaunch's stderr during these runs (first lines):"
        l ""
        l '```'
        head -5 "$RES/burst-err-$mode-nslaunch" >&4
        l '```'
        l ""
    fi
    if in_mode "$mode" bwrap; then
        bs=$(median "$RES/seq-$mode-bwrap")
        bp=$(median "$RES/par-$mode-bwrap")
        srow "| $SEQ_N in a row $mode: no failure, no slower than bubblewrap | $(fmt "$ns" 3) s vs $(fmt "$bs" 3) s (ratio $(ratio "$ns" "$bs")), $nsf failures | $(verdict eval "[ $nsf = 0 ] && le $ns $bs") |"
        srow "| $PAR_N at once $mode: no failure, no slower than bubblewrap | $(fmt "$np" 3) s vs $(fmt "$bp" 3) s (ratio $(ratio "$np" "$bp")), $npf failures | $(verdict eval "[ $npf = 0 ] && le $np $bp") |"
    fi

    l "### Memory of the launcher, $who"
    l ""
    l "Peak RSS: \`/usr/bin/time -f %M\` of \`LAUNCHER ... /bin/true\` (the largest peak of the launcher and of every process it waited for, the payload included; median of $MEM_RUNS runs), and the peak (VmHWM) of each of the launcher's own processes still alive 250 ms into \`LAUNCHER ... /bin/sleep 0.5\` (\`bench/memtree.c\`, the payload excluded; median of $TREE_RUNS runs). By then the recipe's \`sh\` has exec'd the command, so only \`unshare\` is left of it (its \`%M\` counts the rest); rootless crun runs as \`memfd:crun_clon\`, a sealed copy of itself that it re-executes (its defence against CVE-2019-5736)."
    l ""
    l "| launcher | time %M, KiB | nslaunch ÷ this | its processes | host process VmHWM, KiB | sum of its processes' VmHWM, KiB | nslaunch ÷ this (sum) |"
    l "| --- | ---: | ---: | --- | ---: | ---: | ---: |"
    nmx=$(median "$RES/maxrss-$mode-nslaunch")
    awk '{ print $2 }' "$RES/tree-$mode-nslaunch" >"$RES/treesum-$mode-nslaunch"
    nsum=$(median "$RES/treesum-$mode-nslaunch")
    for x in "${names[@]}"; do
        awk '{ print $1 }' "$RES/tree-$mode-$x" >"$RES/treetop-$mode-$x"
        awk '{ print $2 }' "$RES/tree-$mode-$x" >"$RES/treesum-$mode-$x"
        procs=$(awk '{ print $3 }' "$RES/tree-$mode-$x" | tail -1)
        l "| ${LNAME[$x]} | $(fmt "$(median "$RES/maxrss-$mode-$x")" 0) | $(ratio "$nmx" "$(median "$RES/maxrss-$mode-$x")") | $procs | $(fmt "$(median "$RES/treetop-$mode-$x")" 0) | $(fmt "$(median "$RES/treesum-$mode-$x")" 0) | $(ratio "$nsum" "$(median "$RES/treesum-$mode-$x")") |"
    done
    l ""
    if in_mode "$mode" bwrap; then
        bmx=$(median "$RES/maxrss-$mode-bwrap")
        bsum=$(median "$RES/treesum-$mode-bwrap")
        srow "| launcher memory $mode: no more than bubblewrap's (time %M) | $(fmt "$nmx" 0) KiB vs $(fmt "$bmx" 0) KiB (ratio $(ratio "$nmx" "$bmx")) | $(verdict le "$nmx" "$bmx") |"
        srow "| launcher memory $mode: no more than bubblewrap's (sum of its processes' VmHWM) | $(fmt "$nsum" 0) KiB vs $(fmt "$bsum" 0) KiB (ratio $(ratio "$nsum" "$bsum")) | $(verdict le "$nsum" "$bsum") |"
    fi
done

# Seccomp.
SBODY=$TMP/seccomp.md
exec 8>"$SBODY"
s_() { printf '%s\n' "$*" >&8; }
# minus A B: A − B ("nan" when either is missing)
minus() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "") print "nan"; else printf "%.6g\n", a - b }'; }
# quot A B: A / B unrounded ("nan" when either is missing), for verdicts
quot() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || a == "" || b == "" || b == 0) print "nan"; else printf "%.6g\n", a / b }'; }
minv() { if [ -s "$1" ]; then sort -g "$1" | head -1; else echo nan; fi; }
declare -A SNAME=([nslaunch]="nslaunch (default filter)" [nslaunch-unconfined]="nslaunch --seccomp unconfined"
    [bwrap]="bubblewrap (no filter)" [outside]="outside any container" [unconfined]="nslaunch --seccomp unconfined"
    [default]="nslaunch (default filter)" [allowall]="nslaunch --seccomp FILE, FILE allowing everything")
ssb=$(cat /sys/devices/system/cpu/vulnerabilities/spec_store_bypass 2>/dev/null || echo "unknown")
s_ "nslaunch loads a seccomp filter for the command by default (\`--verbose\`: $(cat "$RES/secshape-default" 2>/dev/null || echo "?")): nslaunch compiles it, nsinit loads it in the command's child (nsinit itself runs unfiltered). A syscall that the filter allows whatever its arguments is decided by the kernel's per-architecture cache (Linux 5.11+; this kernel: $(uname -r)) without running the filter; every other syscall runs it (those decided by their arguments, in the default \`clone\`, \`personality\` and \`socket\`, and those refused). Speculative Store Bypass on this machine: $ssb (a kernel booted with \`spec_store_bypass_disable=seccomp\` turns the mitigation on for every filtered process, which slows all its code, not only its syscalls)."
s_ ""
for mode in rootless root; do
    if [ "$mode" = rootless ]; then who="rootless (as $TEST_USER)"; else who="as root"; fi
    names=(nslaunch nslaunch-unconfined)
    in_mode "$mode" bwrap && names+=(bwrap)
    s_ "### Launch latency with and without the filter, $who"
    s_ ""
    s_ "\`nslaunch --rootfs R /bin/true\` (the default filter), \`nslaunch --seccomp unconfined --rootfs R /bin/true\` and bubblewrap as above (it loads no filter unless given one); hyperfine -N, $SEC_ROUNDS rounds of $SEC_RUNS runs (after $WARMUP warm-up runs), the three alternating; measured apart from the launch latency above. *CPU*: user + system time of the launcher and every process it waited for (hyperfine's mean over a round; the median of the rounds), which the machine's other work disturbs less than wall time."
    s_ ""
    s_ "| launcher | runs | median ms | p90 ms | default filter ÷ this (median) | CPU ms |"
    s_ "| --- | ---: | ---: | ---: | ---: | ---: |"
    dm=$(median "$RES/seclat-$mode-nslaunch")
    for x in "${names[@]}"; do
        f=$RES/seclat-$mode-$x
        s_ "| ${SNAME[$x]} | $(count "$f") | $(fmt "$(median "$f")" 2) | $(fmt "$(p90 "$f")" 2) | $(ratio "$dm" "$(median "$f")") | $(fmt "$(median "$RES/seclat-cpu-$mode-$x")" 2) |"
    done
    [ -n "${SKIPPED[$mode/bwrap]:-}" ] && s_ "| bubblewrap | skipped: ${SKIPPED[$mode/bwrap]} | | | | |"
    s_ ""
    um=$(median "$RES/seclat-$mode-nslaunch-unconfined")
    d=$(minus "$dm" "$um")
    dc=$(minus "$(median "$RES/seclat-cpu-$mode-nslaunch")" "$(median "$RES/seclat-cpu-$mode-nslaunch-unconfined")")
    s_ "The default filter adds $(fmt "$d" 3) ms at the median (default − unconfined), and $(fmt "$dc" 3) ms of CPU time."
    s_ ""
    srow "| seccomp $mode: the default filter adds under 0.2 ms to the launch latency (median, default − unconfined) | $(fmt "$dm" 2) ms − $(fmt "$um" 2) ms = $(fmt "$d" 3) ms (CPU time: $(fmt "$dc" 3) ms more) | $(verdict lt "$d" 0.2) |"
    target="seccomp $mode: launch latency with the default filter no slower than bubblewrap's (no filter), median"
    if in_mode "$mode" bwrap; then
        bm=$(median "$RES/seclat-$mode-bwrap")
        srow "| $target | $(fmt "$dm" 2) ms vs $(fmt "$bm" 2) ms (ratio $(ratio "$dm" "$bm")) | $(verdict le "$dm" "$bm") |"
    else
        srow "| $target | n/a: bubblewrap ${SKIPPED[$mode/bwrap]:-?} | n/a |"
    fi
done

s_ "### The cost of a syscall, filtered and not"
s_ ""
s_ "\`bench/syscost.c\` (static, copied into the rootfs) makes $SYS_N raw \`getppid\` calls (the \`syscall\` instruction, not libc), then $SYS_N raw \`personality(0xffffffff)\` calls, and prints the CPU time per call of each batch (CLOCK_THREAD_CPUTIME_ID: unlike wall time, it leaves out the time the loop spends preempted by the machine's other work); $SYS_BATCHES batches of each per process, after one unrecorded warm-up batch. Rootless, outside any container, in \`nslaunch --seccomp unconfined\`, in \`nslaunch --seccomp FILE\` with FILE \`{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": []}\` (a filter of a few instructions: what having any filter at all costs) and in \`nslaunch\` (the default filter), one process each in each of $SYS_ROUNDS rounds, alternating; the batches pooled. \`getppid\` is allowed whatever its arguments, so the kernel's cache decides it without running the filter: what is left is the fixed cost of a syscall under any filter, which the allow-all filter shows. \`personality\` is decided by its first argument, 0xffffffff (a query of the current persona) the last of the personas the filter compares: the filter runs, on its longest path for an allowed call (reported without a target)."
s_ ""
s_ "| where | batches | getppid: median ns | p90 ns | fastest batch ns | ÷ unconfined (median) | personality(0xffffffff): median ns | p90 ns | fastest batch ns | ÷ unconfined (median) |"
s_ "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
ug=$(median "$RES/sys-unconfined-getppid")
up=$(median "$RES/sys-unconfined-personality")
for x in "${SYS_WHERE[@]}"; do
    g=$RES/sys-$x-getppid
    pf=$RES/sys-$x-personality
    s_ "| ${SNAME[$x]} | $(count "$g") | $(fmt "$(median "$g")" 1) | $(fmt "$(p90 "$g")" 1) | $(fmt "$(minv "$g")" 1) | $(ratio "$(median "$g")" "$ug") | $(fmt "$(median "$pf")" 1) | $(fmt "$(p90 "$pf")" 1) | $(fmt "$(minv "$pf")" 1) | $(ratio "$(median "$pf")" "$up") |"
done
s_ ""
for x in "${SYS_WHERE[@]}"; do
    if [ -s "$RES/syserr-$x" ]; then
        s_ "Failed runs, ${SNAME[$x]} (first lines):"
        s_ ""
        s_ '```'
        head -5 "$RES/syserr-$x" >&8
        s_ '```'
        s_ ""
    fi
done
dg=$(median "$RES/sys-default-getppid")
q=$(quot "$dg" "$ug")
nfail=0
for x in "${SYS_WHERE[@]}"; do
    if [ -f "$RES/syserr-$x" ]; then nfail=$((nfail + $(wc -l <"$RES/syserr-$x"))); fi
done
ag=$(median "$RES/sys-allowall-getppid")
srow "| seccomp: a filtered syscall (getppid, tight loop) under 1.2× an unfiltered one (\`--seccomp unconfined\`), median | $(fmt "$dg" 1) ns vs $(fmt "$ug" 1) ns (ratio $(ratio "$dg" "$ug"); under a filter allowing everything $(fmt "$ag" 1) ns, ratio $(ratio "$ag" "$ug")), $nfail failed runs | $(verdict eval "[ $nfail = 0 ] && lt $q 1.2") |"

s_ "### Building the filter"
s_ ""
s_ "\`nslaunch --verbose --seccomp PROFILE --rootfs R /bin/true\`, rootless, $SECBUILD_RUNS launches per profile, alternating: the time nslaunch's \`--verbose\` gives for \"build the seccomp filter\" (for a file: reading and parsing the JSON too), and the program it built (8 bytes an instruction; the kernel takes at most 4096)."
s_ ""
s_ "| profile | launches | build: median ms | p90 ms | instructions | bytes | what \`--verbose\` says |"
s_ "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
for x in "${SECBUILD[@]}"; do
    f=$RES/secbuild-$x
    name="the built-in default"
    [ "$x" = podman ] && name="podman's, \`--seccomp $SECBUILD_PODMAN\`"
    if [ -s "$RES/secbuild-fail-$x" ]; then
        s_ "| $name | failed: $(cat "$RES/secbuild-fail-$x") | | | | | |"
        continue
    fi
    shape=$(cat "$RES/secshape-$x" 2>/dev/null || echo "?")
    ni=$(echo "$shape" | sed -n 's/.*(\([0-9]*\) instructions.*/\1/p')
    s_ "| $name | $(count "$f") | $(fmt "$(median "$f")" 3) | $(fmt "$(p90 "$f")" 3) | ${ni:-?} | $([ -n "$ni" ] && echo $((ni * 8))) | $shape |"
done
[ -r "$SECBUILD_PODMAN" ] || s_ "| podman's | not measured: no $SECBUILD_PODMAN here | | | | | |"
s_ ""

# The breakdown.
BBODY=$TMP/breakdown.md
exec 5>"$BBODY"
b() { printf '%s\n' "$*" >&5; }
if [ -n "$TRACE_SKIP" ]; then
    b "Not measured: $TRACE_SKIP."
else
    b "Recorded with the kernel's own event tracing (a private tracefs instance following the launcher and its descendants: \`sched_process_fork/exec/exit\` and the entry and exit of \`clone\`, \`execve(at)\`, \`mount\`, \`open_tree\`, \`move_mount\`, \`pivot_root\`, \`umount2\`, \`write\`, \`poll\`; \`bench/traceexec.c\` starts the launcher, \`bench/phases.awk\` cuts the log into phases). Tracing stops no process (unlike strace, which here inflated nsinit's fork-to-exec from ~0.2 ms to 6 ms), but costs a little per event: compare the traced totals with the untraced latency medians above. Medians of $TRACE_RUNS runs each, contenders alternating."
    b ""
    b "#### Every launcher: before, during and after the command"
    b ""
    b "| launcher | mode | setup: launcher exec → /bin/true exec, µs | /bin/true runs, µs | teardown: /bin/true exit → launcher exit, µs | total, µs |"
    b "| --- | --- | ---: | ---: | ---: | ---: |"
    for mode in rootless root; do
        read -ra names <<<"${ACTIVE[$mode]}"
        for x in "${names[@]}"; do
            f=$RES/phase-$mode-$x
            [ -s "${f}-setup" ] || { b "| ${LNAME[$x]} | $mode | no complete trace | | | |"; continue; }
            b "| ${LNAME[$x]} | $mode | $(fmt "$(median "${f}-setup")" 0) | $(fmt "$(median "${f}-run")" 0) | $(fmt "$(median "${f}-teardown")" 0) | $(fmt "$(median "${f}-total")" 0) |"
        done
    done
    b ""
    b "#### nslaunch, phase by phase"
    b ""
    b "| phase | rootless: median µs | share | root: median µs | share |"
    b "| --- | ---: | ---: | ---: | ---: |"
    PH=$TMP/phase-order
    sort -u "$RES/phase-labels" 2>/dev/null | grep '^[0-9]' >"$PH" || true
    for mode in rootless root; do
        : >"$RES/phase-sum-$mode"
        while IFS=$'\t' read -r key label; do
            [[ $key == *.* ]] && continue # a part of another phase
            median "$RES/phase-$mode-nslaunch-$key" >>"$RES/phase-sum-$mode"
        done <"$PH"
    done
    tot_u=$(awk '{ s += $1 } END { print s + 0 }' "$RES/phase-sum-rootless")
    tot_r=$(awk '{ s += $1 } END { print s + 0 }' "$RES/phase-sum-root")
    : >"$TMP/phase-rank"
    while IFS=$'\t' read -r key label; do
        mu=$(median "$RES/phase-rootless-nslaunch-$key")
        mr=$(median "$RES/phase-root-nslaunch-$key")
        name="$key. $label"
        [[ $key == *.* ]] && name="&nbsp;&nbsp;&nbsp;$key $label"
        b "| $name | $(fmt "$mu" 0) | $(awk -v a="$mu" -v t="$tot_u" 'BEGIN { printf "%.0f%%", t ? 100 * a / t : 0 }') | $(fmt "$mr" 0) | $(awk -v a="$mr" -v t="$tot_r" 'BEGIN { printf "%.0f%%", t ? 100 * a / t : 0 }') |"
        # The ranking leaves out the payload's own run and the sub-phases.
        [[ $key == *.* || $key == 10 ]] || printf '%s\t%s\n' "$mu" "$label" >>"$TMP/phase-rank"
    done <"$PH"
    b "| sum of the medians | $(fmt "$tot_u" 0) | | $(fmt "$tot_r" 0) | |"
    b ""
    b "The largest of nslaunch's own phases, rootless (the command's run left out; the next optimisation should start at the top of this list; the findings below say what each is made of):"
    b ""
    sort -t$'\t' -k1,1gr "$TMP/phase-rank" | head -5 | awk -F'\t' '{ printf "%d. %s: %.0f µs\n", NR, $2, $1 }' >&5
fi

# The inits.
IBODY=$TMP/init.md
exec 6>"$IBODY"
i_() { printf '%s\n' "$*" >&6; }
i_ "### Reaping $ORPH_N orphans"
i_ ""
i_ "\`unshare --pid --fork --mount-proc INIT bench/orphans $ORPH_N\` ($ORPH_REPS repetitions, inits alternating): the helper makes $ORPH_N zombie grandchildren under 20 parents (untimed), then lets the parents exit at once, so that the kernel hands all $ORPH_N zombies to PID 1 together; it then scans its namespace's /proc until only PID 1 and itself are left. *Reap* is from that release to the last orphan gone; *left* is how many remained after 10 s (the checkpoint); *PID 1 CPU* is the init's own CPU time over the same span (/proc/1/schedstat), the least noisy measure of its reaping work; *total* is from start to the init's exit, creation included."
i_ ""
i_ "| init | reap median ms | reap p90 ms | nsinit ÷ this | PID 1 CPU while reaping, median ms | zombies left (max) | total median ms | failures |"
i_ "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
nr=$(median "$RES/orph-reap-nsinit")
best=nan bestname=""
for i in "${INITS[@]}"; do
    m=$(median "$RES/orph-reap-$i")
    left=$(sort -g "$RES/orph-left-$i" | tail -1)
    fails=$(awk '{ s += $1 } END { print s + 0 }' "$RES/orph-fail-$i")
    i_ "| ${INAME[$i]} | $(fmt "$m" 1) | $(fmt "$(p90 "$RES/orph-reap-$i")" 1) | $(ratio "$nr" "$m") | $(fmt "$(median "$RES/orph-cpu-$i")" 1) | ${left:-?} | $(fmt "$(median "$RES/orph-total-$i")" 0) | $fails |"
    if [ "$i" != nsinit ] && { [ "$best" = nan ] || le "$m" "$best"; }; then best=$m bestname=${INAME[$i]}; fi
done
i_ ""
nleft=$(sort -g "$RES/orph-left-nsinit" | tail -1)
ncpu=$(median "$RES/orph-cpu-nsinit")
bestcpu=nan
for i in "${INITS[@]}"; do
    [ "$i" = nsinit ] && continue
    m=$(median "$RES/orph-cpu-$i")
    if [ "$bestcpu" = nan ] || le "$m" "$bestcpu"; then bestcpu=$m bestcpuname=${INAME[$i]}; fi
done
srow "| reap $ORPH_N orphans: fastest, none left | nsinit $(fmt "$nr" 1) ms vs fastest peer ($bestname) $(fmt "$best" 1) ms (ratio $(ratio "$nr" "$best")), ${nleft:-?} left | $(verdict eval "le $nr $best && [ ${nleft:-1} = 0 ]") |"
srow "| reap $ORPH_N orphans: PID 1's CPU time no more than the least of the peers' | nsinit $(fmt "$ncpu" 1) ms vs $bestcpuname $(fmt "$bestcpu" 1) ms (ratio $(ratio "$ncpu" "$bestcpu")) | $(verdict le "$ncpu" "$bestcpu") |"

i_ "### Signal forwarding latency"
i_ ""
i_ "\`bench/sigping.c\`: from outside the namespace, $SIG_N times per repetition ($SIG_REPS repetitions, inits alternating), read CLOCK_MONOTONIC and \`kill(INIT, SIGUSR1)\`; the command under the init (\`sigping recv\`, blocking in sigwaitinfo) reads the clock on receipt and sends it back over a FIFO. One signal in flight at a time, 1 ms apart. Latency = receipt − send, all samples pooled. Measured twice: with the sender, the init and the command pinned to one CPU (\`taskset -c $SIG_CPU\`: the inits' own code paths, little noise), and free on both CPUs (what a user gets; here a run's median is either ~20 µs or ~50 µs depending on whether a wake-up has to rouse the other, idle, virtual CPU, so the pooled median mostly counts how often that happened)."
i_ ""
i_ "| init | one CPU: median µs | p90 µs | nsinit ÷ this | both CPUs: median µs | p90 µs | nsinit ÷ this | samples | lost |"
i_ "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
n1=$(median "$RES/sig-onecpu-nsinit")
n2=$(median "$RES/sig-free-nsinit")
for i in "${INITS[@]}"; do
    sent=$(cat "$RES/sig-summary-onecpu-$i" "$RES/sig-summary-free-$i" 2>/dev/null |
        awk '{ for (k = 1; k <= NF; k++) if ($k ~ /^sent=/) { sub(/sent=/, "", $k); s += $k } } END { print s + 0 }')
    n=$(($(count "$RES/sig-onecpu-$i") + $(count "$RES/sig-free-$i")))
    m1=$(median "$RES/sig-onecpu-$i")
    m2=$(median "$RES/sig-free-$i")
    i_ "| ${INAME[$i]} | $(fmt "$m1" 1) | $(fmt "$(p90 "$RES/sig-onecpu-$i")" 1) | $(ratio "$n1" "$m1") | $(fmt "$m2" 1) | $(fmt "$(p90 "$RES/sig-free-$i")" 1) | $(ratio "$n2" "$m2") | $n | $((sent - n)) |"
done
i_ ""
t1=$(median "$RES/sig-onecpu-tini")
t2=$(median "$RES/sig-free-tini")
srow "| forwarded signal latency, one CPU: median no worse than tini's | $(fmt "$n1" 1) µs vs $(fmt "$t1" 1) µs (ratio $(ratio "$n1" "$t1")) | $(verdict le "$n1" "$t1") |"
srow "| forwarded signal latency, both CPUs: median no worse than tini's | $(fmt "$n2" 1) µs vs $(fmt "$t2" 1) µs (ratio $(ratio "$n2" "$t2")) | $(verdict le "$n2" "$t2") |"

i_ "### Idle wake-ups, peak RSS, binary size"
i_ ""
i_ "Idle: the four inits run at the same time, each as PID 1 over \`sleep\`; after 1 s to settle, the init's context switches (voluntary + involuntary, /proc/PID/status) are counted over ${IDLE_S} s. Peak RSS: the init's VmHWM at the end of that idle period, and after reaping the orphans (largest of the repetitions). Size: the file's size; *static* when it has no ELF interpreter."
i_ ""
i_ "| init | wake-ups in ${IDLE_S} s | VmHWM idle, KiB | VmHWM after $ORPH_N orphans, KiB | file size, bytes | linked |"
i_ "| --- | ---: | ---: | ---: | ---: | --- |"
for i in "${INITS[@]}"; do
    f=${IBIN[$i]}
    link=static
    readelf -l "$f" 2>/dev/null | grep -q 'Requesting program interpreter' && link="dynamic (libc not counted)"
    i_ "| ${INAME[$i]} | $(cat "$RES/idle-$i") | $(cat "$RES/idle-hwm-$i") | $(sort -g "$RES/orph-hwm-$i" | tail -1) | $(stat -c %s "$f") | $link |"
done
i_ ""
nw=$(cat "$RES/idle-nsinit")
srow "| idle wake-ups over ${IDLE_S} s: 0 | nsinit $nw (tini-static $(cat "$RES/idle-tini")) | $(verdict [ "$nw" = 0 ]) |"
nh=$(cat "$RES/idle-hwm-nsinit")
ch=$(cat "$RES/idle-hwm-catatonit")
srow "| init peak RSS (idle VmHWM): no more than catatonit's | $nh KiB vs $ch KiB (ratio $(ratio "$nh" "$ch")) | $(verdict le "$nh" "$ch") |"
nsz=$(stat -c %s "${IBIN[nsinit]}")
csz=$(stat -c %s "${IBIN[catatonit]}")
tsz=$(stat -c %s "${IBIN[tini]}")
srow "| static binary size: no more than catatonit's | $nsz vs $csz bytes (ratio $(ratio "$nsz" "$csz")); tini-static $tsz (ratio $(ratio "$nsz" "$tsz")) | $(verdict le "$nsz" "$csz") |"
srow "| stretch: init peak RSS and binary size under half of catatonit's | RSS ratio $(ratio "$nh" "$ch"), size ratio $(ratio "$nsz" "$csz") | $(verdict eval "under_half '$nh' '$ch' && under_half '$nsz' '$csz'") |"

i_ "### Where nsinit's bytes go"
i_ ""
i_ "The standalone nsinit has no C library (\`#![no_std]\`, its own \`_start\`, allocator and system calls; see docs/NSINIT.md). \`bench/nsinit-size.sh\` builds the same code unstripped and sorts its sections and symbols by crate: *core* and *alloc* are Rust's precompiled libraries (formatting, slices, strings), *base* is nsinit's core (\`base/\`: the PID-1 loop, settings, system calls, \`--help\`), *nsinit* the executable's own code (\`init-alone/\`)."
i_ ""
if sizes=$("$HERE/nsinit-size.sh" "$TMP/nsinit-size" 2>"$RES/nsinit-size.err"); then
    i_ "$sizes"
else
    i_ "(not measured: $(tail -1 "$RES/nsinit-size.err"))"
fi
i_ ""

i_ "### Start-up overhead over a bare \`true\`"
i_ ""
i_ "hyperfine -N, $START_ROUNDS rounds of $START_RUNS runs, alternating. *Bare*: \`INIT -- /bin/true\` on the host (tini with \`-s\`, as it is not PID 1) against \`/bin/true\`. *As PID 1*: \`unshare --pid --fork INIT -- /bin/true\` against \`unshare --pid --fork /bin/true\`. Overhead = median(with the init) − median(without)."
i_ ""
i_ "| init | bare: median ms | overhead ms | as PID 1: median ms | overhead ms |"
i_ "| --- | ---: | ---: | ---: | ---: |"
bt=$(median "$RES/start-bare-true")
pt=$(median "$RES/start-pid1-true")
i_ "| (none: /bin/true) | $(fmt "$bt" 3) | | $(fmt "$pt" 3) | |"
for i in "${INITS[@]}"; do
    bi=$(median "$RES/start-bare-$i")
    pi=$(median "$RES/start-pid1-$i")
    i_ "| ${INAME[$i]} | $(fmt "$bi" 3) | $(awk -v a="$bi" -v b="$bt" 'BEGIN { printf "%.3f", a - b }') | $(fmt "$pi" 3) | $(awk -v a="$pi" -v b="$pt" 'BEGIN { printf "%.3f", a - b }') |"
done
i_ ""

# The OCI runtime.
OBODY=$TMP/oci.md
exec 7>"$OBODY"
o() { printf '%s\n' "$*" >&7; }
# colmed FILE COL: the median of column COL of FILE
colmed() {
    if [ -f "$1" ]; then awk -v c="$2" '{ print $c }' "$1"; fi >"$RES/col.tmp"
    median "$RES/col.tmp"
}
# sumkey FILE KEY: the sum of KEY=N over the words of FILE
sumkey() {
    if [ -f "$1" ]; then cat "$1"; fi |
        awk -v k="$2=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) s += substr($i, length(k) + 1) } END { print s + 0 }'
}
bundle_ns() { jq -r '[.linux.namespaces[].type] | join(", ")' "$TMP/oci-$1/config.json" 2>/dev/null || echo "?"; }
bundle_mounts() { jq -r '[.mounts[] | "\(.destination) (\(.type))"] | join(", ")' "$TMP/oci-$1/config.json" 2>/dev/null || echo "?"; }
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    cglayout="cgroup v2"
elif mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
    cglayout="hybrid (cgroup v1 controllers, cgroup2 at /sys/fs/cgroup/unified)"
else
    cglayout="cgroup v1"
fi

o "### The lifecycle of one bundle"
o ""
o "\`RUNTIME --root DIR create --bundle B --pid-file P ID\`, \`RUNTIME --root DIR start ID\`, wait until the container's process has exited, \`RUNTIME --root DIR delete ID\`, timed as one unit by \`bench/ocicycle.c\`. Like conmon and the containerd shim it is a child subreaper: once \`create\` has exited, the container's process is its child; it waits on a pidfd of that process (no polling, no sleep) and reaps it, checking that \`/bin/true\` exited 0. $OCI_ROUNDS rounds of $OCI_RUNS lifecycles per runtime, each round after one unrecorded lifecycle, runtimes alternating; *create* to *delete* are the medians of each step (*wait*: from \`start\`'s exit to the process's exit)."
o ""
o "One bundle per mode, the same for the three runtimes: \`nslaunch spec\` (rootless: \`nslaunch spec --rootless\`, made as $TEST_USER), running \`/bin/true\` without a terminal on the busybox rootfs. Rootless, /sys is bound from the host (rbind, ro), as \`runc spec --rootless\` has it: runc cannot mount a sysfs in a user namespace that owns no network namespace."
o ""
o "- namespaces: as root $(bundle_ns root); rootless $(bundle_ns rootless)"
o "- mounts: as root $(bundle_mounts root); rootless $(bundle_mounts rootless)"
o "- cgroups (this host: $cglayout): runc always puts the container in a cgroup of its own (as root, \`/ID\` in every hierarchy, removed by \`delete\`); crun runs with \`--cgroup-manager=disabled\`, as in the launcher benchmarks; nslaunch uses a cgroup only where a cgroup v2 hierarchy is delegated to it."
if [ -n "${LWRAP_NOTE:-}" ]; then
    o "- all three ran in the private mount namespace of the launcher benchmarks (see the note there), where crun runs."
fi
o ""
for mode in rootless root; do
    if [ "$mode" = rootless ]; then who="rootless (as $TEST_USER)"; else who="as root"; fi
    read -ra names <<<"${OCI_ACTIVE[$mode]}"
    o "#### $who"
    o ""
    o "| runtime | lifecycles | median ms | p90 ms | nslaunch ÷ this | create ms | start ms | wait ms | delete ms | failures |"
    o "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    nm=$(colmed "$RES/oci-$mode-nslaunch" 1)
    for x in "${names[@]}"; do
        f=$RES/oci-$mode-$x
        if [ -f "$f" ]; then awk '{ print $1 }' "$f"; fi >"$RES/oci-tot-$mode-$x"
        o "| $x | $(count "$RES/oci-tot-$mode-$x") | $(fmt "$(median "$RES/oci-tot-$mode-$x")" 2) | $(fmt "$(p90 "$RES/oci-tot-$mode-$x")" 2) | $(ratio "$nm" "$(median "$RES/oci-tot-$mode-$x")") | $(fmt "$(colmed "$f" 2)" 2) | $(fmt "$(colmed "$f" 3)" 2) | $(fmt "$(colmed "$f" 4)" 2) | $(fmt "$(colmed "$f" 5)" 2) | $(sumkey "$RES/ocisum-$mode-$x" failures) |"
    done
    for x in "${OCI_RUNTIMES[@]}"; do
        [ -n "${OSKIP[$mode/$x]:-}" ] && o "| $x | n/a: ${OSKIP[$mode/$x]} | | | | | | | | |"
    done
    o ""
    for x in "${names[@]}"; do
        s=$RES/ocisum-$mode-$x
        nc=$(sumkey "$s" not_child)
        st=$(sumkey "$s" strays)
        lf=$(sumkey "$s" left)
        left_state=$(ls -A "$TMP/oci-$mode/state-$x" 2>/dev/null | tr '\n' ' ')
        {
            [ "$nc" = 0 ] || echo "- $x: $nc container processes were not the caller's child once \`create\` had exited (a process of the runtime's own stayed their parent)."
            [ "$st" = 0 ] || echo "- $x: $st other orphans were handed to the caller (the subreaper) and reaped."
            [ "$lf" = 0 ] || echo "- $x: $lf processes were still alive 1 s after the last \`delete\` (killed by the bench)."
            [ -z "$left_state" ] || echo "- $x: left in its --root after the last \`delete\`: $left_state"
            if [ -s "$RES/ocierr-$mode-$x" ]; then
                printf '%s\n' "- $x, its failures and leftovers (first lines):" "" '```'
                head -8 "$RES/ocierr-$mode-$x"
                printf '%s\n' '```'
            fi
        } >>"$RES/ocinotes-$mode"
    done
    if [ -s "$RES/ocinotes-$mode" ]; then
        cat "$RES/ocinotes-$mode" >&7
        o ""
    fi
    for peer in runc crun; do
        target="OCI lifecycle $mode (create, start, wait, delete of one bundle): faster than $peer"
        if ! in_oci "$mode" nslaunch; then
            srow "| $target | nslaunch ${OSKIP[$mode/nslaunch]:-?} | **MISS** |"
        elif ! in_oci "$mode" "$peer"; then
            srow "| $target | n/a: ${OSKIP[$mode/$peer]:-?} | n/a |"
        else
            pm=$(median "$RES/oci-tot-$mode-$peer")
            nf=$(sumkey "$RES/ocisum-$mode-nslaunch" failures)
            lf=$(sumkey "$RES/ocisum-$mode-nslaunch" left)
            srow "| $target | $(fmt "$nm" 2) ms vs $(fmt "$pm" 2) ms (ratio $(ratio "$nm" "$pm")), $nf failures, $lf left behind | $(verdict eval "[ $nf = 0 ] && [ $lf = 0 ] && lt $nm $pm") |"
        fi
    done
done

o "### podman run --rm IMG true"
o ""
o "\`podman --runtime RUNTIME run --rm IMG true\`, RUNTIME the built nslaunch or runc ($RUNC); IMG imported with \`podman import\` from the busybox rootfs (and removed at the end). hyperfine -N, $POD_ROUNDS rounds of $POD_RUNS runs (after one warm-up run), runtimes alternating. podman reads the bench's own containers.conf (CONTAINERS_CONF): \`default_ulimits = []\` (podman's default rlimits exceed the hard limits of a machine like this one, and raising them needs CAP_SYS_RESOURCE), \`cgroup_manager = \"cgroupfs\"\` (no systemd), \`events_logger = \"file\"\`, and nslaunch in \`runtime_supports_json\` so that it gets the same \`--log\` options as runc. Rootless, podman runs as $TEST_USER with HOME and XDG_RUNTIME_DIR of the bench's own (its image store, run directory and pause process; the pause process is killed at the end). podman runs in the host's mount namespace."
o ""
for mode in rootless root; do
    if [ "$mode" = rootless ]; then who="rootless (as $TEST_USER)"; else who="as root"; fi
    read -ra names <<<"${POD_ACTIVE[$mode]}"
    o "#### $who${PODINFO[$mode]:+ (${PODINFO[$mode]})}"
    o ""
    target="podman run --rm IMG true $mode: with nslaunch no slower than with runc"
    if [ -n "${PSKIP[$mode]:-}" ]; then
        o "Not measured: ${PSKIP[$mode]}"
        o ""
        srow "| $target | n/a: ${PSKIP[$mode]} | n/a |"
        continue
    fi
    o "| --runtime | runs | median ms | p90 ms | nslaunch ÷ this |"
    o "| --- | ---: | ---: | ---: | ---: |"
    nm=$(median "$RES/pod-$mode-nslaunch")
    for x in "${names[@]}"; do
        f=$RES/pod-$mode-$x
        o "| $x | $(count "$f") | $(fmt "$(median "$f")" 1) | $(fmt "$(p90 "$f")" 1) | $(ratio "$nm" "$(median "$f")") |"
    done
    for x in "${POD_RUNTIMES[@]}"; do
        [ -n "${PSKIP[$mode/$x]:-}" ] && o "| $x | ${PSKIP[$mode/$x]} | | | |"
    done
    o ""
    pf=0
    if [ -s "$RES/podfail-$mode" ]; then
        pf=$(wc -l <"$RES/podfail-$mode")
        o "Rounds dropped because a run failed (hyperfine's last lines):"
        o ""
        o '```'
        head -5 "$RES/podfail-$mode" >&7
        o '```'
        o ""
    fi
    if ! in_podman "$mode" nslaunch; then
        srow "| $target | nslaunch ${PSKIP[$mode/nslaunch]:-?} | **MISS** |"
    else
        rm=$(median "$RES/pod-$mode-runc")
        srow "| $target | $(fmt "$nm" 1) ms vs $(fmt "$rm" 1) ms (ratio $(ratio "$nm" "$rm")), $pf failed rounds | $(verdict eval "[ $pf = 0 ] && le $nm $rm") |"
    fi
done

# Networking.
NBODY=$TMP/net.md
exec 9>"$NBODY"
nb() { printf '%s\n' "$*" >&9; }
nb "Rootless (as $TEST_USER). \`bench/tcpbench.c\` serves in the container on port 5000, published at 127.0.0.1:PORT; on the host, \`tcpbench send\` writes $NET_MIB MiB over one connection and waits for the server's close (throughput), and \`tcpbench conns\` opens $NET_CONNS connections one after the other, each until the server closed it (rate). $NET_ROUNDS rounds, contenders alternating. **host** is \`nslaunch --network host\` (no helper, the server on the host's port: the ceiling); **podman** is rootless \`podman run --network slirp4netns -p\` (runc; its default port handler, rootlesskit)."
nb ""
nb "| network | MiB/s (median) | connections/s (median) | failed connections | pasta ÷ this (MiB/s) | pasta ÷ this (conn/s) |"
nb "| --- | ---: | ---: | ---: | ---: | ---: |"
pt=$(median "$RES/net-tput-pasta")
pc=$(median "$RES/net-conns-pasta")
for n in "${NETS[@]}"; do
    if [ -n "${NSKIP[$n]:-}" ]; then
        nb "| $n | n/a: ${NSKIP[$n]} | | | | |"
        continue
    fi
    nb "| $n | $(fmt "$(median "$RES/net-tput-$n")" 0) | $(fmt "$(median "$RES/net-conns-$n")" 0) | $(awk '{ s += $1 } END { print s + 0 }' "$RES/net-fail-$n" 2>/dev/null || echo 0) | $(ratio "$pt" "$(median "$RES/net-tput-$n")") | $(ratio "$pc" "$(median "$RES/net-conns-$n")") |"
done
nb ""
nb "The helper's cost at launch: \`nslaunch --network MODE --rootfs R /bin/true\`, hyperfine -N, $NET_LAUNCH_RUNS runs after 2 warm-ups."
nb ""
nb "| --network | median ms | p90 ms | added to none (ms) |"
nb "| --- | ---: | ---: | ---: |"
nm=$(median "$RES/net-launch-none")
for n in none pasta slirp4netns; do
    m=$(median "$RES/net-launch-$n")
    nb "| $n | $(fmt "$m" 1) | $(fmt "$(p90 "$RES/net-launch-$n")" 1) | $(awk -v a="$m" -v b="$nm" 'BEGIN { if (a == "nan" || b == "nan") print "n/a"; else printf "%.1f", a - b }') |"
done
nb ""
for what in tput conns; do
    if [ "$what" = tput ]; then label="throughput"; else label="connection rate"; fi
    target="network rootless, $label through a published port: nslaunch --network pasta no worse than podman with slirp4netns"
    if [ -n "${NSKIP[pasta]:-}" ] || [ -n "${NSKIP[podman]:-}" ]; then
        srow "| $target | n/a: ${NSKIP[pasta]:-${NSKIP[podman]}} | n/a |"
    else
        a=$(median "$RES/net-$what-pasta")
        b=$(median "$RES/net-$what-podman")
        srow "| $target | $(fmt "$a" 0) vs $(fmt "$b" 0) (ratio $(ratio "$a" "$b")) | $(verdict le "$b" "$a") |"
    fi
done
exec 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-

w "## Targets"
w ""
w "Every target the project set itself (launch speed and memory against the peers, the OCI runtime against runc and crun, the seccomp filter's cost, networking against podman), with nslaunch/nsinit's value against the peer's. A miss is a miss: the benchmark is not tuned to hide it."
w ""
w "| target | measured | verdict |"
w "| --- | --- | --- |"
cat "$SUMMARY" >&3
w ""
w "## Launcher"
w ""
w "Contenders, each running \`/bin/true\` in the same busybox rootfs (\`scripts/mkrootfs.sh\`):"
w ""
w "- **nslaunch**: \`nslaunch --rootfs R /bin/true\` (user, mount and PID namespaces; /proc, a /dev tmpfs with 6 host nodes, devpts, /dev/shm; pivot_root; nsinit as PID 1);"
w "- **bubblewrap**: \`bwrap --unshare-user --unshare-pid --bind R / --proc /proc --dev /dev /bin/true\`;"
w "- **unshare + pivot_root (article)**: \`unshare --user --map-root-user --mount --pid --fork sh bench/recipe.sh R /bin/true\`: bind-mount R on itself, pivot_root into it, mount proc, unmount the old root, exec;"
w "- **crun**: \`crun run\` of an OCI bundle with the same namespaces and mounts as nslaunch, \`--cgroup-manager=disabled\` (no contender makes a cgroup), no network namespace."
w ""
if [ -n "${LWRAP_NOTE:-}" ]; then
    w "Note: $LWRAP_NOTE"
    w ""
fi
cat "$LBODY" >&3
w "### A tarball rootfs"
w ""
w "Rootless, \`nslaunch --rootfs FILE /bin/true\` on an uncompressed tarball of the busybox rootfs plus ${TAR_MB} MiB of random data, against \`--rootfs\` the directory itself. The first launch reads, hashes and unpacks it (once); later launches find the archive's (device, inode, size, mtime, ctime) in the cache's index and do not read it; a launch right after \`touch\` (a fresh ctime) hashes it again and reuses the entry. Medians of $TAR_RUNS runs."
w ""
w "| launch | median (ms) | p90 (ms) |"
w "| --- | --- | --- |"
w "| first (hash + unpack) | $TAR_FIRST | |"
w "| cached, known by the index | $(fmt "$(median "$RES/tar-indexed")" 1) | $(fmt "$(p90 "$RES/tar-indexed")" 1) |"
w "| cached, archive touched (hashed again) | $(fmt "$(median "$RES/tar-rehashed")" 1) | $(fmt "$(p90 "$RES/tar-rehashed")" 1) |"
w "| the directory, \`--overlay\` (what a tarball always runs on) | $(fmt "$(median "$RES/tar-dir-overlay")" 1) | $(fmt "$(p90 "$RES/tar-dir-overlay")" 1) |"
w "| the directory | $(fmt "$(median "$RES/tar-dir")" 1) | $(fmt "$(p90 "$RES/tar-dir")" 1) |"
w ""
w "### Where nslaunch's time goes"
w ""
cat "$BBODY" >&3
w ""
w "## Seccomp"
w ""
w "What nslaunch's default seccomp filter costs: at launch, and per syscall."
w ""
cat "$SBODY" >&3
w "## OCI runtime"
w ""
w "nslaunch as an OCI runtime, with runc's command line, against runc and crun, and under podman."
w ""
cat "$OBODY" >&3
w "## Networking"
w ""
cat "$NBODY" >&3
w ""
w "## Init"
w ""
w "Each init runs as PID 1 of a fresh PID namespace, as root: \`unshare --pid --fork --mount-proc INIT CMD\` with INIT one of \`nsinit --\`, \`tini-static --\`, \`dumb-init\`, \`catatonit --\`."
w ""
cat "$IBODY" >&3
w "## How to read this"
w ""
w "- Times are wall-clock medians of pooled samples; ratios are nslaunch's (or nsinit's) median divided by the peer's: below 1.00 is faster/smaller."
w "- The machine is shared and noisy (the load average is above); contenders alternate within every measurement so that noise hits them alike, but differences of a few percent are within the noise."
w "- The helpers are C, in \`bench/\` (\`burst.c\`, \`orphans.c\`, \`sigping.c\`, \`memtree.c\`, \`traceexec.c\`, \`ocicycle.c\`, \`syscost.c\`, \`tcpbench.c\`), built static by the script; \`bench/phases.awk\` reads the traces."
w ""
if [ -f "$HERE/FINDINGS.md" ]; then
    cat "$HERE/FINDINGS.md" >&3
fi
exec 3>&-

mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
cat "$REPORT"
say "written to $OUT"
