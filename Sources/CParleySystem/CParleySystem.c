#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include "CParleySystem.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#if defined(__linux__)
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#endif
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#endif

// MARK: epoll

#if defined(__linux__)

int cps_epoll_available(void) { return 1; }

int cps_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cps_epoll_ctl(int epfd, int op, int fd, uint32_t interest, uint64_t token) {
    struct epoll_event ev;
    ev.events = ((interest & CPS_IO_READ) ? EPOLLIN : 0)
              | ((interest & CPS_IO_WRITE) ? EPOLLOUT : 0)
              | ((interest & CPS_IO_EXCLUSIVE) ? EPOLLEXCLUSIVE : 0);
    ev.data.u64 = token;
    int cop = op == 0 ? EPOLL_CTL_ADD : (op == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL);
    return epoll_ctl(epfd, cop, fd, &ev);
}

int cps_epoll_wait(int epfd, cps_event *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        uint32_t e = evs[i].events;
        out[i].token = evs[i].data.u64;
        out[i].events = ((e & EPOLLIN) ? CPS_IO_READ : 0)
                      | ((e & EPOLLOUT) ? CPS_IO_WRITE : 0)
                      | ((e & EPOLLHUP) ? CPS_IO_HANGUP : 0)
                      | ((e & EPOLLERR) ? CPS_IO_ERROR : 0);
    }
    return n;
}

#else

int cps_epoll_available(void) { return 0; }
int cps_epoll_create(void) { errno = ENOSYS; return -1; }
int cps_epoll_ctl(int epfd, int op, int fd, uint32_t interest, uint64_t token) {
    (void)epfd; (void)op; (void)fd; (void)interest; (void)token;
    errno = ENOSYS;
    return -1;
}
int cps_epoll_wait(int epfd, cps_event *out, int max, int timeout_ms) {
    (void)epfd; (void)out; (void)max; (void)timeout_ms;
    errno = ENOSYS;
    return -1;
}

#endif

// MARK: poll(2)

short cps_poll_interest(uint32_t interest) {
    return (short)(((interest & CPS_IO_READ) ? POLLIN : 0) | ((interest & CPS_IO_WRITE) ? POLLOUT : 0));
}

int cps_poll_wait(struct pollfd *fds, const uint64_t *tokens, int count, int *cursor,
                  cps_event *out, int max, int timeout_ms) {
    int ready = poll(fds, (nfds_t)count, timeout_ms);
    if (ready <= 0 || count == 0) return ready;
    int start = (*cursor >= 0 && *cursor < count) ? *cursor : 0;
    int n = 0;
    for (int k = 0; k < count && n < max && ready > 0; k++) {
        int i = start + k;
        if (i >= count) i -= count;
        short r = fds[i].revents;
        if (r == 0) continue;
        ready--;
        out[n].token = tokens[i];
        // POLLNVAL (a descriptor closed while registered) is reported as an error.
        out[n].events = ((r & POLLIN) ? CPS_IO_READ : 0)
                      | ((r & POLLOUT) ? CPS_IO_WRITE : 0)
                      | ((r & POLLHUP) ? CPS_IO_HANGUP : 0)
                      | ((r & (POLLERR | POLLNVAL)) ? CPS_IO_ERROR : 0);
        n++;
        *cursor = i + 1;
    }
    return n;
}

// MARK: Wake-ups

static int cps_set_flags(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -1;
    int fdflags = fcntl(fd, F_GETFD, 0);
    if (fdflags < 0 || fcntl(fd, F_SETFD, fdflags | FD_CLOEXEC) < 0) return -1;
    return 0;
}

int cps_wakeup_open(int portable, int fds[2]) {
#if defined(__linux__)
    if (!portable) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) return -1;
        fds[0] = fd;
        fds[1] = fd;
        return 0;
    }
#else
    (void)portable;
#endif
    if (pipe(fds) != 0) return -1;
    if (cps_set_flags(fds[0]) != 0 || cps_set_flags(fds[1]) != 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    return 0;
}

void cps_wakeup_signal(int write_fd) {
    // Eight bytes: what an eventfd requires, and a single write to a pipe.
    uint64_t one = 1;
    ssize_t n;
    do { n = write(write_fd, &one, sizeof one); } while (n < 0 && errno == EINTR);
}

void cps_wakeup_drain(int read_fd) {
    uint64_t buffer[32];
    for (;;) {
        ssize_t n = read(read_fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        // An eventfd returns its 8-byte counter at once; a pipe is empty after a short read.
        if (n < (ssize_t)sizeof buffer) return;
    }
}

// MARK: Sockets

/// Where SO_NOSIGPIPE exists (Darwin, the BSDs), a write to a closed connection returns EPIPE
/// instead of raising SIGPIPE; elsewhere every send passes MSG_NOSIGNAL.
static void cps_set_nosigpipe(int fd) {
#if defined(SO_NOSIGPIPE)
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
    (void)fd;
#endif
}

#if defined(MSG_NOSIGNAL)
#define CPS_SEND_FLAGS MSG_NOSIGNAL
#else
#define CPS_SEND_FLAGS 0
#endif

static int cps_prepare_portable(int fd) {
    if (fd < 0) return fd;
    if (cps_set_flags(fd) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    cps_set_nosigpipe(fd);
    return fd;
}

int cps_socket_stream(int family, int portable) {
#if defined(__linux__)
    if (!portable) return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    (void)portable;
#endif
    return cps_prepare_portable(socket(family, SOCK_STREAM, 0));
}

int cps_accept(int fd, int portable) {
#if defined(__linux__)
    if (!portable) return accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    (void)portable;
#endif
    // A fork between accept and fcntl could leak the descriptor into a child: acceptable for a
    // server that does not fork, and the only way on systems without accept4.
    return cps_prepare_portable(accept(fd, NULL, NULL));
}

ssize_t cps_send(int fd, const void *bytes, size_t count) {
    return send(fd, bytes, count, CPS_SEND_FLAGS);
}

ssize_t cps_sendv(int fd, const struct iovec *vectors, int count) {
    struct msghdr message = {0};
    message.msg_iov = (struct iovec *)vectors;
    message.msg_iovlen = count;
    return sendmsg(fd, &message, CPS_SEND_FLAGS);
}

void cps_set_keepalive(int fd, int idle, int interval, int count) {
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#if defined(TCP_KEEPIDLE)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
#elif defined(TCP_KEEPALIVE)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPALIVE, &idle, sizeof idle);
#else
    (void)idle;
#endif
#if defined(TCP_KEEPINTVL)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
#else
    (void)interval;
#endif
#if defined(TCP_KEEPCNT)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
#else
    (void)count;
#endif
}

int cps_socket_error(int fd) {
    int error = 0;
    socklen_t length = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) return errno;
    return error;
}

// MARK: Process

int cps_release_free_memory(void) {
#if defined(__linux__) && defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int cps_cpu_count(void) {
#if defined(__linux__)
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cps_random_bytes(void *buffer, size_t count) {
#if defined(__linux__)
    size_t done = 0;
    while (done < count) {
        ssize_t n = getrandom((char *)buffer + done, count - done, 0);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        done += (size_t)n;
    }
    return 0;
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__)
    arc4random_buf(buffer, count);
    return 0;
#else
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < count) {
        ssize_t n = read(fd, (char *)buffer + done, count - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { close(fd); return -1; }
        done += (size_t)n;
    }
    close(fd);
    return 0;
#endif
}

static _Thread_local void *cps_loop_of_thread = 0;
void cps_set_current_loop(void *loop) { cps_loop_of_thread = loop; }
void *cps_current_loop(void) { return cps_loop_of_thread; }
