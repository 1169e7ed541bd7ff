/*
 * traceexec: start a command with ftrace's event tracing following it and
 * its descendants, in a tracefs instance prepared by bench/bench.sh.
 *
 *   traceexec INSTANCE_DIR [-u UID -g GID] -- CMD [ARGS...]
 *
 * Writes its own PID to INSTANCE_DIR/set_event_pid (with the instance's
 * event-fork option on, children are followed), turns tracing on, drops
 * to UID/GID when given (setgroups(0), setresgid, setresuid), and execs
 * CMD: the exec is the first event. Tracing is turned off by the caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *dir, const char *file, const char *value)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) {
        fprintf(stderr, "traceexec: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: traceexec INSTANCE_DIR [-u UID -g GID] -- CMD...\n");
        return 2;
    }
    const char *dir = argv[1];
    long uid = -1, gid = -1;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "-u") == 0 && i + 1 < argc)
            uid = atol(argv[++i]);
        else if (strcmp(argv[i], "-g") == 0 && i + 1 < argc)
            gid = atol(argv[++i]);
    }
    if (i >= argc - 1) {
        fprintf(stderr, "usage: traceexec INSTANCE_DIR [-u UID -g GID] -- CMD...\n");
        return 2;
    }
    char pid[32];
    snprintf(pid, sizeof pid, "%d\n", getpid());
    put(dir, "set_event_pid", pid);
    put(dir, "tracing_on", "1\n");
    if (gid >= 0 && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0)) {
        perror("traceexec: setresgid");
        return 2;
    }
    if (uid >= 0 && setresuid(uid, uid, uid) < 0) {
        perror("traceexec: setresuid");
        return 2;
    }
    execvp(argv[i + 1], argv + i + 1);
    fprintf(stderr, "traceexec: %s: %s\n", argv[i + 1], strerror(errno));
    return 127;
}
