/* TCP throughput and connection rate through a published port (make bench).
 *
 *   tcpbench serve PORT
 *       listen on 0.0.0.0:PORT (in the container), print "ready", and for
 *       each connection read until end of file, then close: forever.
 *   tcpbench send PORT MIB
 *       connect to 127.0.0.1:PORT, write MIB MiB, shut down the write side
 *       and wait for the server's close; print "mib_s=N" (MiB per second,
 *       from connect to the close).
 *   tcpbench conns PORT N
 *       N times: connect to 127.0.0.1:PORT, shut down the write side, wait
 *       for the server's close; print "conns_s=N failures=N".
 *
 * Each connection is a full round trip through the helper: the server saw
 * the end of the data (or of the connection) before the client counts it.
 * Stops by itself (send and conns); serve runs until it is killed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int dial(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Shut down our side and read until the peer closes: 0 when it did. */
static int finish(int s)
{
    char buf[4096];
    ssize_t n;
    shutdown(s, SHUT_WR);
    while ((n = read(s, buf, sizeof buf)) > 0)
        ;
    close(s);
    return n == 0 ? 0 : -1;
}

static int serve(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int one = 1, l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 512) < 0) {
        perror("tcpbench: listen");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    static char buf[1 << 16];
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        while (read(c, buf, sizeof buf) > 0)
            ;
        close(c);
    }
}

static int sendmib(int port, long mib)
{
    static char buf[1 << 16];
    memset(buf, 'x', sizeof buf);
    double t0 = now();
    int s = dial(port);
    if (s < 0) {
        perror("tcpbench: connect");
        return 1;
    }
    long left = mib << 20;
    while (left > 0) {
        ssize_t n = write(s, buf, left < (long)sizeof buf ? left : (long)sizeof buf);
        if (n <= 0) {
            perror("tcpbench: write");
            return 1;
        }
        left -= n;
    }
    if (finish(s) < 0) {
        perror("tcpbench: read");
        return 1;
    }
    printf("mib_s=%.1f\n", mib / (now() - t0));
    return 0;
}

static int conns(int port, long n)
{
    long failures = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        int s = dial(port);
        if (s < 0 || finish(s) < 0)
            failures++;
    }
    printf("conns_s=%.0f failures=%ld\n", n / (now() - t0), failures);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "send"))
        return sendmib(atoi(argv[2]), atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "conns"))
        return conns(atoi(argv[2]), atol(argv[3]));
    fprintf(stderr, "usage: tcpbench serve PORT | send PORT MIB | conns PORT N\n");
    return 2;
}
