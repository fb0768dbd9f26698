#define _GNU_SOURCE
#include "CParleySystem.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <errno.h>

const uint32_t CPS_EPOLLIN = EPOLLIN;
const uint32_t CPS_EPOLLOUT = EPOLLOUT;
const uint32_t CPS_EPOLLERR = EPOLLERR;
const uint32_t CPS_EPOLLHUP = EPOLLHUP;
const uint32_t CPS_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t CPS_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

int cps_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cps_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    int cop = op == 0 ? EPOLL_CTL_ADD : (op == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL);
    return epoll_ctl(epfd, cop, fd, &ev);
}

int cps_epoll_wait(int epfd, cps_event *out, int max, int timeout_ms) {
    struct epoll_event evs[256];
    if (max > 256) max = 256;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].token = evs[i].data.u64;
        out[i].events = evs[i].events;
    }
    return n;
}

int cps_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cps_eventfd_signal(int fd) {
    uint64_t one = 1;
    return (int)write(fd, &one, sizeof one);
}

int cps_eventfd_drain(int fd) {
    uint64_t value;
    return (int)read(fd, &value, sizeof value);
}

int cps_accept(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int cps_socket_stream(int family) {
    return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

#include <sched.h>
int cps_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#include <sys/random.h>
int cps_random_bytes(void *buffer, size_t count) {
    size_t done = 0;
    while (done < count) {
        ssize_t n = getrandom((char *)buffer + done, count - done, 0);
        if (n < 0) { if (errno == EINTR) continue; return -1; }
        done += (size_t)n;
    }
    return 0;
}

static __thread void *cps_loop_of_thread = 0;
void cps_set_current_loop(void *loop) { cps_loop_of_thread = loop; }
void *cps_current_loop(void) { return cps_loop_of_thread; }
