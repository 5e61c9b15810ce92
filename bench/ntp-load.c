/* bench/ntp-load: the NTP load generator of `make bench-ntp` (bench/ntp). Sends the request
 * packets of a file, round robin, in batches with sendmmsg(2) and reads replies with recvmmsg(2),
 * keeping at most WINDOW requests in flight, for SECONDS; prints "sent replies seconds".
 *
 * Why C and not Python: one Python sendto costs about as much as the server's whole answer, so a
 * Python generator on the other core would measure itself. sendmmsg sends 64 datagrams per system
 * call. The requests are made beforehand (bench/ntp, with the tests' NTS client), so the server's
 * work is all that varies: the same file drives epoch and chronyd.
 *
 * Usage: ntp-load PORT FILE SECONDS WINDOW. FILE: records of a 2-byte big-endian length and the
 * packet. Loopback only. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PACKETS 4096
#define MAX_SIZE 2048

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: ntp-load PORT FILE SECONDS WINDOW\n");
        return 2;
    }
    int port = atoi(argv[1]);
    double seconds = atof(argv[3]);
    long window = atol(argv[4]);
    FILE *file = fopen(argv[2], "rb");
    if (!file) {
        perror(argv[2]);
        return 1;
    }
    static unsigned char packets[MAX_PACKETS][MAX_SIZE];
    static size_t sizes[MAX_PACKETS];
    int count = 0;
    unsigned char length[2];
    while (count < MAX_PACKETS && fread(length, 1, 2, file) == 2) {
        sizes[count] = (size_t)length[0] << 8 | length[1];
        if (sizes[count] > MAX_SIZE || fread(packets[count], 1, sizes[count], file) != sizes[count]) {
            fprintf(stderr, "ntp-load: %s: a truncated record\n", argv[2]);
            return 1;
        }
        count++;
    }
    fclose(file);
    if (count == 0) {
        fprintf(stderr, "ntp-load: %s holds no packet\n", argv[2]);
        return 1;
    }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (connect(sock, (struct sockaddr *)&to, sizeof to) != 0) {
        perror("connect");
        return 1;
    }
    int buffer = 4 << 20;
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);

    struct mmsghdr out[BATCH], in[BATCH];
    struct iovec outv[BATCH], inv[BATCH];
    static unsigned char replies[BATCH][MAX_SIZE];
    for (int i = 0; i < BATCH; i++) {
        inv[i] = (struct iovec){.iov_base = replies[i], .iov_len = MAX_SIZE};
        memset(&in[i], 0, sizeof in[i]);
        in[i].msg_hdr.msg_iov = &inv[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0, received = 0, lost = 0, next = 0;
    double start = now(), end = start + seconds, last_reply = start;
    while (now() < end) {
        long room = window - (sent - received - lost);
        if (room >= BATCH / 4) {
            int batch = room < BATCH ? (int)room : BATCH;
            for (int i = 0; i < batch; i++, next++) {
                int p = (int)(next % count);
                outv[i] = (struct iovec){.iov_base = packets[p], .iov_len = sizes[p]};
                memset(&out[i], 0, sizeof out[i]);
                out[i].msg_hdr.msg_iov = &outv[i];
                out[i].msg_hdr.msg_iovlen = 1;
            }
            int done = sendmmsg(sock, out, batch, 0);
            if (done > 0) sent += done;
        }
        struct pollfd wait = {.fd = sock, .events = POLLIN};
        poll(&wait, 1, 1);
        int got;
        while ((got = recvmmsg(sock, in, BATCH, MSG_DONTWAIT, NULL)) > 0) {
            received += got;
            last_reply = now();
        }
        /* Requests the server dropped (a full socket buffer) never come back: after 20 ms
         * without a reply the window is reopened, so a lossy server is measured, not stalled. */
        if (sent - received - lost >= window && now() - last_reply > 0.02) {
            lost = sent - received;
            last_reply = now();
        }
    }
    printf("%ld %ld %.3f\n", sent, received, now() - start);
    return 0;
}
