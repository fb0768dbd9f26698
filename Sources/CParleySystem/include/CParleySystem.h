// CParleySystem: the few Linux system calls and constants that Swift's Glibc module
// does not expose (epoll, eventfd, accept4), wrapped as plain C functions.
#ifndef C_PARLEY_SYSTEM_H
#define C_PARLEY_SYSTEM_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>

/// One readiness event: the registered 64-bit token and the epoll event bits.
typedef struct {
    uint64_t token;
    uint32_t events;
} cps_event;

extern const uint32_t CPS_EPOLLIN;
extern const uint32_t CPS_EPOLLOUT;
extern const uint32_t CPS_EPOLLERR;
extern const uint32_t CPS_EPOLLHUP;
extern const uint32_t CPS_EPOLLRDHUP;
extern const uint32_t CPS_EPOLLEXCLUSIVE;

int cps_epoll_create(void);
/// op: 0 add, 1 modify, 2 delete.
int cps_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// Waits for events; fills `out` (up to `max`) and returns the count, or -1 with errno.
int cps_epoll_wait(int epfd, cps_event *out, int max, int timeout_ms);

int cps_eventfd(void);
int cps_eventfd_signal(int fd);
int cps_eventfd_drain(int fd);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int cps_accept(int fd, struct sockaddr *addr, socklen_t *len);
/// A non-blocking, close-on-exec TCP socket of the given family.
int cps_socket_stream(int family);

/// The number of CPUs this process may run on (its affinity mask), at least 1.
int cps_cpu_count(void);

/// Fills `buffer` from the kernel CSPRNG (getrandom); 0 on success.
int cps_random_bytes(void *buffer, size_t count);

/// The event loop running on this thread (thread-local), or NULL.
void cps_set_current_loop(void *loop);
void *cps_current_loop(void);

#endif
