# phases.awk: turn one ftrace event log of one container launch into phase
# durations. Part of `make bench` (bench/bench.sh), which records the log
# with bench/traceexec.c in a private tracefs instance following
# the launcher and all its descendants (events: sched_process_fork/exec/
# exit and the enter/exit of clone, clone3, execve, execveat, mount,
# open_tree, move_mount, pivot_root, umount2, write, poll).
#
#   awk -v payload=/bin/true -v detail=1 -f phases.awk trace.txt
#
# Prints "KEY<TAB>MICROSECONDS<TAB>LABEL" lines:
# - for every launcher: setup (launcher exec -> payload exec), run
#   (payload exec -> payload exit), teardown (payload exit -> launcher
#   exit) and total;
# - with detail=1 (nslaunch), its own phases, numbered in time order
#   (the sum of 01..13 is the total; 06.1 and 06.2 split 06; 05 only
#   when nsinit is exec'd, with --init, else 04 runs to the first mount).
# Prints "incomplete<TAB>0<TAB>..." when an event it needs is missing.

function us(a, b) { return (b - a) * 1e6 }
function isset(x) { return x != "" }
function out(key, a, b, label) { printf "%s\t%.1f\t%s\n", key, us(a, b), label }

{
    if (!match($0, /-[0-9]+ +\[[0-9]+\] +[^ ]+ +[0-9]+\.[0-9]+: /))
        next
    head = substr($0, RSTART, RLENGTH)
    ev = substr($0, RSTART + RLENGTH)
    split(head, h, / +/)
    pid = substr(h[1], 2) + 0
    ts = h[4]
    sub(/:$/, "", ts)
    ts += 0

    if (ev ~ /^sched_process_exec:/) {
        fn = ev
        sub(/.*filename=/, "", fn)
        sub(/ pid=.*/, "", fn)
        if (!isset(top)) { top = pid; t_start = ts }
        if (pid == init && !isset(t_init_exec)) t_init_exec = ts
        if (fn == payload && !isset(t_pay_exec)) { pay = pid; t_pay_exec = ts }
        next
    }
    if (ev ~ /^sched_process_fork:/) {
        child = ev
        sub(/.*child_pid=/, "", child)
        child += 0
        if (pid == top && !isset(init)) init = child
        next
    }
    if (ev ~ /^sched_process_exit:/) {
        if (isset(pay) && pid == pay && !isset(t_pay_exit)) t_pay_exit = ts
        if (isset(init) && pid == init && !isset(t_init_exit)) t_init_exit = ts
        if (pid == top) t_end = ts
        next
    }
    if (pid == top) {
        if (ev ~ /^sys_clone3?\(/ && !isset(t_clone_in)) t_clone_in = ts
        else if (ev ~ /^sys_clone3? -> / && isset(t_clone_in) && !isset(t_clone_out)) t_clone_out = ts
        else if (ev ~ /^sys_write\(.*count: 1\)/ && isset(t_clone_out) && !isset(t_release)) t_release = ts
        else if (ev ~ /^sys_poll -> / && isset(t_init_exit) && !isset(t_wake)) t_wake = ts
    } else if (isset(init) && pid == init) {
        # Time spent inside the mount-making syscalls of phase 06.
        if (ev ~ /^sys_(mount|open_tree|move_mount)\(/ && !isset(t_pivot)) { t_in = ts; nmounts++ }
        else if (ev ~ /^sys_(mount|open_tree|move_mount) -> / && isset(t_in)) { in_mount += ts - t_in; t_in = "" }
        if (ev ~ /^sys_mount\(/ && !isset(t_mount1)) t_mount1 = ts
        else if (ev ~ /^sys_pivot_root\(/ && !isset(t_pivot)) t_pivot = ts
        else if (ev ~ /^sys_umount -> / && isset(t_pivot) && !isset(t_umount)) t_umount = ts
        else if (ev ~ /^sys_clone3?\(/ && isset(t_umount) && !isset(t_fork_in)) t_fork_in = ts
        else if (ev ~ /^sys_clone3? -> / && isset(t_fork_in) && !isset(t_fork_out)) t_fork_out = ts
    }
}

END {
    if (!isset(t_start) || !isset(t_pay_exec) || !isset(t_pay_exit) || !isset(t_end)) {
        print "incomplete\t0\tsome events are missing"
        exit
    }
    out("setup", t_start, t_pay_exec, "launcher exec -> payload exec")
    out("run", t_pay_exec, t_pay_exit, "payload exec -> payload exit")
    out("teardown", t_pay_exit, t_end, "payload exit -> launcher exit")
    out("total", t_start, t_end, "launcher exec -> launcher exit")
    if (!detail)
        exit
    if (!isset(t_clone_in) || !isset(t_clone_out) || !isset(t_release) ||
        !isset(t_mount1) || !isset(t_pivot) || !isset(t_umount) || !isset(t_fork_out) ||
        !isset(t_init_exit) || !isset(t_wake)) {
        print "incomplete\t0\tsome events are missing"
        exit
    }
    out("01", t_start, t_clone_in, "nslaunch: exec, dynamic loading, runtime init, checks (until clone)")
    out("02", t_clone_in, t_clone_out, "clone: new user, mount and PID namespaces")
    out("03", t_clone_out, t_release, "id maps written, child released")
    if (isset(t_init_exec)) {
        # nsinit exec'd (--init PATH).
        out("04", t_release, t_init_exec, "child wakes, execveat(nsinit)")
        out("05", t_init_exec, t_mount1, "nsinit start-up (static glibc + Rust init, args, gid_map) until the first mount")
    } else {
        # The default: the child runs nsinit's code in place.
        out("04", t_release, t_mount1, "child wakes and becomes nsinit in place (no exec: closes the launcher's descriptors, takes nsinit's environment, parses its args, reads the filter) until the first mount")
    }
    out("06", t_mount1, t_pivot, "mounts: rprivate, rootfs bind, /proc, /dev tmpfs + 6 nodes, devpts, /dev/shm")
    out("06.1", 0, in_mount, "of which inside the " nmounts " mount, open_tree and move_mount calls")
    out("06.2", in_mount, t_pivot - t_mount1, "of which between them (openat2, mkdirat, symlinkat, closes, user code)")
    out("07", t_pivot, t_umount, "pivot_root + detach the old root")
    out("08", t_umount, t_fork_out, "resolve the command, signalfd, fork")
    out("09", t_fork_out, t_pay_exec, "command's child: scheduled, signals reset, execve")
    out("10", t_pay_exec, t_pay_exit, "the command runs (/bin/true)")
    out("11", t_pay_exit, t_init_exit, "nsinit reaps it and exits")
    out("12", t_init_exit, t_wake, "PID 1 gone: namespaces torn down, nslaunch woken")
    out("13", t_wake, t_end, "nslaunch reaps nsinit and exits")
}
