/*
 * memtree: the peak resident memory of every process a launcher starts.
 * Part of `make bench` (bench/bench.sh).
 *
 *   memtree DELAY_MS -- CMD [ARGS...]
 *
 * Starts CMD, waits DELAY_MS (the container's command should still be
 * running then, e.g. `sleep 1`: the launcher's set-up, its peak, is over),
 * then reads VmHWM and the name of CMD and of every descendant from /proc,
 * and waits for CMD to end. Prints one line per process, the top first:
 *   pid=P depth=D name=NAME hwm_kb=K
 * and then "status=S" (CMD's exit status, 128+N for signal N).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXP 65536

static int ppid_of[MAXP];

static void field(pid_t pid, const char *key, char *out, size_t len)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            char *v = line + klen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, " \n")] = 0;
            snprintf(out, len, "%s", v);
            break;
        }
    }
    fclose(f);
}

static void scan(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    memset(ppid_of, 0, sizeof ppid_of);
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid >= MAXP)
            continue;
        char pp[32];
        field(pid, "PPid", pp, sizeof pp);
        ppid_of[pid] = atoi(pp);
    }
    closedir(d);
}

static void show(pid_t pid, int depth)
{
    char name[64], hwm[32];
    field(pid, "Name", name, sizeof name);
    field(pid, "VmHWM", hwm, sizeof hwm);
    printf("pid=%d depth=%d name=%s hwm_kb=%s\n", pid, depth, name[0] ? name : "?",
           hwm[0] ? hwm : "0");
    for (int c = 1; c < MAXP; c++)
        if (ppid_of[c] == pid)
            show(c, depth + 1);
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "--") != 0) {
        fprintf(stderr, "usage: memtree DELAY_MS -- CMD...\n");
        return 2;
    }
    long delay = atol(argv[1]);
    pid_t pid = fork();
    if (pid < 0) {
        perror("memtree: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        _exit(127);
    }
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000};
    nanosleep(&ts, NULL);
    scan();
    show(pid, 0);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 2;
    printf("status=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return 0;
}
