/*
 * sdhelper: the service's side of systemd's two protocols, for the
 * end-to-end tests (tests/tests/systemd.rs). Built static by the tests
 * (cc -static) and copied into the busybox rootfs, which has no
 * sd_listen_fds, sd_notify or socat.
 *
 *   sdhelper serve [--notify] [--loop]
 *       socket activation as sd_listen_fds(3) reads it: LISTEN_PID must
 *       be our pid and LISTEN_FDS 1, and fd 3 a listening socket; prints
 *       "serving pid=P" once checked (after READY=1 with --notify), then
 *       accepts on fd 3 and answers each connection with one line:
 *       "pid=P listen_pid=L listen_fds=N names=NAMES"; one connection,
 *       or forever with --loop. Exit 3 when the socket is not ours.
 *   sdhelper notify [--fd] [--size N] LINE...
 *       send LINE\nLINE... as one datagram to $NOTIFY_SOCKET (a path, or
 *       @name for an abstract socket), as sd_notify(3) does; --fd
 *       attaches descriptor 0 (SCM_RIGHTS); --size N sends STATUS=xxx...
 *       of N bytes instead.
 *   sdhelper flood N
 *       send N datagrams "STATUS=flood I" without waiting (MSG_DONTWAIT)
 *       and print "flood sent=K".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify_addr(struct sockaddr_un *sa, socklen_t *len)
{
    const char *e = getenv("NOTIFY_SOCKET");
    size_t n;
    if (!e || !*e) {
        fprintf(stderr, "sdhelper: NOTIFY_SOCKET is not set\n");
        errno = EINVAL;
        return -1;
    }
    n = strlen(e);
    if (n >= sizeof(sa->sun_path)) {
        fprintf(stderr, "sdhelper: NOTIFY_SOCKET too long\n");
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, e, n);
    if (e[0] == '@')
        sa->sun_path[0] = 0;
    *len = offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '@' ? 0 : 1);
    return 0;
}

static int send_msg(const char *msg, size_t len, int with_fd, int flags)
{
    struct sockaddr_un sa;
    socklen_t salen;
    struct iovec iov = { (void *)msg, len };
    struct msghdr mh = { 0 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } c;
    static int s = -1;
    if (notify_addr(&sa, &salen) < 0)
        return -1;
    if (s < 0)
        s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    mh.msg_name = &sa;
    mh.msg_namelen = salen;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (with_fd) {
        int fd = 0;
        memset(&c, 0, sizeof(c));
        mh.msg_control = c.buf;
        mh.msg_controllen = sizeof(c.buf);
        c.h.cmsg_level = SOL_SOCKET;
        c.h.cmsg_type = SCM_RIGHTS;
        c.h.cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(&c.h), &fd, sizeof(int));
    }
    return sendmsg(s, &mh, flags | MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int serve(int argc, char **argv)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    int notify = 0, loop = 0, accepting = 0;
    socklen_t len = sizeof(accepting);
    char me[32];
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--notify"))
            notify = 1;
        else if (!strcmp(argv[i], "--loop"))
            loop = 1;
    }
    snprintf(me, sizeof(me), "%d", (int)getpid());
    if (!pid || strcmp(pid, me) != 0) {
        fprintf(stderr, "sdhelper: not for me: LISTEN_PID=%s, my pid %s\n", pid ? pid : "(unset)", me);
        return 3;
    }
    if (!fds || strcmp(fds, "1") != 0) {
        fprintf(stderr, "sdhelper: LISTEN_FDS=%s, expected 1\n", fds ? fds : "(unset)");
        return 3;
    }
    if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 || !accepting) {
        fprintf(stderr, "sdhelper: fd 3 is not a listening socket\n");
        return 3;
    }
    if (notify && send_msg("READY=1\nSTATUS=serving on fd 3", 30, 0, 0) < 0) {
        perror("sdhelper: notify");
        return 1;
    }
    printf("serving pid=%s\n", me);
    fflush(stdout);
    do {
        char line[512];
        int c = accept4(3, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            perror("sdhelper: accept");
            return 1;
        }
        snprintf(line, sizeof(line), "pid=%s listen_pid=%s listen_fds=%s names=%s\n", me, pid, fds,
                 names ? names : "");
        if (write(c, line, strlen(line)) < 0)
            perror("sdhelper: write");
        close(c);
    } while (loop);
    return 0;
}

static int notify(int argc, char **argv)
{
    static char msg[65536];
    size_t len = 0;
    int with_fd = 0;
    long size = -1;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--fd")) {
            with_fd = 1;
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            size = atol(argv[++i]);
        } else {
            size_t n = strlen(argv[i]);
            if (len + n + 1 >= sizeof(msg))
                return 2;
            if (len)
                msg[len++] = '\n';
            memcpy(msg + len, argv[i], n);
            len += n;
        }
    }
    if (size >= 0) {
        if (size < 8 || (size_t)size > sizeof(msg))
            return 2;
        memcpy(msg, "STATUS=", 7);
        memset(msg + 7, 'x', size - 7);
        len = size;
    }
    if (send_msg(msg, len, with_fd, 0) < 0) {
        perror("sdhelper: notify");
        return 1;
    }
    return 0;
}

static int flood(int argc, char **argv)
{
    long n = argc > 0 ? atol(argv[0]) : 0, sent = 0;
    for (long i = 0; i < n; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof(msg), "STATUS=flood %ld", i);
        if (send_msg(msg, len, 0, MSG_DONTWAIT) == 0)
            sent++;
        else if (errno != EAGAIN) {
            perror("sdhelper: flood");
            return 1;
        }
    }
    printf("flood sent=%ld\n", sent);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "notify"))
        return notify(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "flood"))
        return flood(argc - 2, argv + 2);
    fprintf(stderr, "usage: sdhelper serve [--notify] [--loop] | notify [--fd] [--size N] LINE... | flood N\n");
    return 2;
}
