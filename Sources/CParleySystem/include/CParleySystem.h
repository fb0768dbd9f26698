// CParleySystem: every operating-system call Parley makes that differs between systems, behind
// one small C API. Linux uses epoll, eventfd, accept4, MSG_NOSIGNAL, getrandom and
// sched_getaffinity; other POSIX systems (macOS, iOS) use poll(2), a self-pipe, accept + fcntl,
// SO_NOSIGPIPE, arc4random_buf and sysconf. The portable variants also exist on Linux, so that
// the code other systems run can be exercised there (`portable` arguments below).
#ifndef C_PARLEY_SYSTEM_H
#define C_PARLEY_SYSTEM_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <poll.h>

// MARK: Readiness bits (ours, the same on every system and for every poller)

/// The descriptor has bytes to read, a connection to accept, or an end of stream.
#define CPS_IO_READ 0x1u
/// The descriptor can take more bytes (or a non-blocking connect has finished).
#define CPS_IO_WRITE 0x2u
/// The peer closed the connection in both directions (reported whether asked for or not).
#define CPS_IO_HANGUP 0x4u
/// An error is pending on the descriptor (reported whether asked for or not).
#define CPS_IO_ERROR 0x8u
/// Registration only: wake one waiter, not all, when several pollers watch this descriptor
/// (epoll's EPOLLEXCLUSIVE; ignored by poll).
#define CPS_IO_EXCLUSIVE 0x100u

/// One readiness event: the token given at registration and a mask of `CPS_IO_*` bits.
typedef struct {
    uint64_t token;
    uint32_t events;
} cps_event;

// MARK: epoll (Linux; elsewhere every call fails with ENOSYS)

/// Whether this system has epoll.
int cps_epoll_available(void);
/// A close-on-exec epoll instance, or -1 with errno.
int cps_epoll_create(void);
/// Adds (op 0), modifies (1) or removes (2) `fd`, watched for `interest` (`CPS_IO_READ`,
/// `CPS_IO_WRITE`, `CPS_IO_EXCLUSIVE` on add), level-triggered. 0, or -1 with errno.
int cps_epoll_ctl(int epfd, int op, int fd, uint32_t interest, uint64_t token);
/// Waits up to `timeout_ms` (-1: no limit); fills `out` with at most `max` events (capped at
/// 256) in `CPS_IO_*` bits. Returns the count, or -1 with errno.
int cps_epoll_wait(int epfd, cps_event *out, int max, int timeout_ms);

// MARK: poll(2) (every system)

/// The `pollfd.events` value for a `CPS_IO_*` interest.
short cps_poll_interest(uint32_t interest);
/// Calls poll(2) on `fds[0..<count]`, then reports the ready entries in `out` (at most `max`),
/// with `tokens[i]` the token of `fds[i]` and `CPS_IO_*` bits. The scan starts at `*cursor`
/// and the cursor moves past the last entry reported, so that when more than `max` are ready
/// the next call serves the others first. Returns the count, or -1 with errno.
int cps_poll_wait(struct pollfd *fds, const uint64_t *tokens, int count, int *cursor,
                  cps_event *out, int max, int timeout_ms);

// MARK: Wake-ups

/// Opens a wake-up primitive: an eventfd (`fds[0] == fds[1]`) on Linux unless `portable`,
/// otherwise a pipe (`fds[0]` read end, `fds[1]` write end). Non-blocking, close-on-exec.
/// 0, or -1 with errno.
int cps_wakeup_open(int portable, int fds[2]);
/// Makes the read end readable. A full pipe already holds a pending wake-up, so it succeeds.
void cps_wakeup_signal(int write_fd);
/// Empties the read end, so the poller stops reporting it.
void cps_wakeup_drain(int read_fd);

// MARK: Sockets

/// A non-blocking, close-on-exec TCP socket of `family` that never raises SIGPIPE:
/// `socket` with SOCK_NONBLOCK | SOCK_CLOEXEC on Linux unless `portable`, otherwise
/// `socket` + `fcntl` (+ SO_NOSIGPIPE where it exists). -1 with errno on failure.
int cps_socket_stream(int family, int portable);
/// Accepts a connection as a non-blocking, close-on-exec socket that never raises SIGPIPE:
/// `accept4` on Linux unless `portable`, otherwise `accept` + `fcntl` (+ SO_NOSIGPIPE).
/// -1 with errno when nothing is pending (EAGAIN) or on failure.
int cps_accept(int fd, int portable);
/// `send` that never raises SIGPIPE (MSG_NOSIGNAL, or SO_NOSIGPIPE set on the socket).
ssize_t cps_send(int fd, const void *bytes, size_t count);
/// Gathers `count` buffers into one `sendmsg`, never raising SIGPIPE.
ssize_t cps_sendv(int fd, const struct iovec *vectors, int count);
/// Turns on TCP keep-alive probes: after `idle` seconds of silence, every `interval` seconds,
/// `count` times (TCP_KEEPIDLE on Linux, TCP_KEEPALIVE on Darwin; each where it exists).
void cps_set_keepalive(int fd, int idle, int interval, int count);
/// The pending error of a socket (SO_ERROR): 0 when a non-blocking connect succeeded.
int cps_socket_error(int fd);

// MARK: Process

/// The number of CPUs this process may run on (its affinity mask on Linux), at least 1.
int cps_cpu_count(void);
/// Gives free heap memory back to the system: glibc's malloc_trim(0) on Linux (every arena's
/// free pages), nothing elsewhere (other allocators return memory on their own). 1 when
/// memory was released, else 0.
int cps_release_free_memory(void);
/// Fills `buffer` from the system CSPRNG (getrandom, arc4random_buf); 0 on success.
int cps_random_bytes(void *buffer, size_t count);

/// The event loop running on this thread (thread-local), or NULL.
void cps_set_current_loop(void *loop);
void *cps_current_loop(void);

#endif
