/*
 * floor-echo: the least a WebSocket echo server can do per message, as a yardstick for
 * parley-server --raw-echo in BENCHMARKS.md ("The floor").
 *
 * One thread, one epoll instance (level-triggered), one receive buffer shared by every
 * connection. Per ready connection: one recv into that buffer; complete frames are unmasked
 * into the connection's send buffer as they are parsed; every connection written to in the
 * iteration is flushed with one send after all events are handled (the same corking as
 * uWebSockets and parley-server). An RFC 6455 handshake with the checks a benchmark needs
 * (GET, Sec-WebSocket-Key); text, binary, ping (answered by pong) and close (echoed, then the
 * connection ends). No UTF-8 validation, no fragmentation, no limits beyond the buffer bounds:
 * it is not a server to expose, only the cost of the two system calls and the framing.
 *
 * Build: cc -O2 -o floor-echo floor-echo.c
 * Run:   floor-echo PORT [LIFETIME_S]   (127.0.0.1 only; exits after LIFETIME_S, default 600)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_SIZE (512 * 1024)         /* one per process, as uWebSockets keeps one per loop */
#define MAX_PENDING (1024 * 1024)      /* unparsed bytes kept per connection */
#define MAX_OUT (4 * 1024 * 1024)      /* unsent bytes kept per connection */
#define MAX_FDS 65536

struct conn {
	int fd;
	int upgraded;
	int closing;
	int dirty;
	uint8_t *in;           /* bytes of an incomplete frame or head */
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
};

static struct conn *conns[MAX_FDS];
static int dirty[MAX_FDS];
static int dirty_count;
static int ep;

/* ---- SHA-1 (FIPS 180-4) and base64, for Sec-WebSocket-Accept ---- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1(const uint8_t *data, size_t len, uint8_t digest[20])
{
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	size_t total = ((len + 8) / 64 + 1) * 64;
	uint8_t *m = calloc(total, 1);
	if (!m)
		abort();
	memcpy(m, data, len);
	m[len] = 0x80;
	uint64_t bits = (uint64_t)len * 8;
	for (int i = 0; i < 8; i++)
		m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
	for (size_t block = 0; block < total; block += 64) {
		uint32_t w[80];
		for (int i = 0; i < 16; i++)
			w[i] = (uint32_t)m[block + 4 * i] << 24 | (uint32_t)m[block + 4 * i + 1] << 16 |
			       (uint32_t)m[block + 4 * i + 2] << 8 | m[block + 4 * i + 3];
		for (int i = 16; i < 80; i++)
			w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
		uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
		for (int i = 0; i < 80; i++) {
			uint32_t f, k;
			if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
			else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
			else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
			else { f = b ^ c ^ d; k = 0xCA62C1D6; }
			uint32_t t = rol(a, 5) + f + e + k + w[i];
			e = d; d = c; c = rol(b, 30); b = a; a = t;
		}
		h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
	}
	free(m);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			digest[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

static size_t base64(const uint8_t *in, size_t n, char *out)
{
	static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = table[(v >> 18) & 63];
		out[o++] = table[(v >> 12) & 63];
		out[o++] = i + 1 < n ? table[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? table[v & 63] : '=';
	}
	return o;
}

/* ---- buffers ---- */

static int reserve(uint8_t **buf, size_t *cap, size_t need, size_t bound)
{
	if (need <= *cap)
		return 0;
	if (need > bound)
		return -1;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	uint8_t *p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

static void conn_close(struct conn *c)
{
	conns[c->fd] = NULL;
	close(c->fd);   /* also leaves the epoll set */
	free(c->in);
	free(c->out);
	free(c);        /* a dirty entry left for its descriptor finds no connection */
}

static uint8_t *out_space(struct conn *c, size_t n)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (reserve(&c->out, &c->out_cap, c->out_len + n, MAX_OUT))
		return NULL;
	if (!c->dirty) {
		c->dirty = 1;
		dirty[dirty_count++] = c->fd;
	}
	uint8_t *p = c->out + c->out_len;
	c->out_len += n;
	return p;
}

/* A server frame header (unmasked) for `n` payload bytes, then the payload space. */
static uint8_t *out_frame(struct conn *c, uint8_t opcode, size_t n)
{
	size_t h = n < 126 ? 2 : n < 65536 ? 4 : 10;
	uint8_t *p = out_space(c, h + n);
	if (!p)
		return NULL;
	p[0] = 0x80 | opcode;
	if (h == 2) {
		p[1] = (uint8_t)n;
	} else if (h == 4) {
		p[1] = 126;
		p[2] = (uint8_t)(n >> 8);
		p[3] = (uint8_t)n;
	} else {
		p[1] = 127;
		for (int i = 0; i < 8; i++)
			p[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
	}
	return p + h;
}

/* ---- protocol ---- */

/* Parses the request head in bytes[0..n); returns bytes used, 0 if incomplete, -1 to close. */
static long handshake(struct conn *c, const uint8_t *bytes, size_t n)
{
	const uint8_t *end = memmem(bytes, n, "\r\n\r\n", 4);
	if (!end)
		return n > 8192 ? -1 : 0;
	size_t head = (size_t)(end - bytes) + 4;
	if (head < 4 || memcmp(bytes, "GET ", 4) != 0)
		return -1;
	const char *name = "\r\nSec-WebSocket-Key:";
	const uint8_t *k = NULL;
	for (size_t i = 0; i + strlen(name) < head; i++)
		if (strncasecmp((const char *)bytes + i, name, strlen(name)) == 0) {
			k = bytes + i + strlen(name);
			break;
		}
	if (!k)
		return -1;
	while (*k == ' ')
		k++;
	const uint8_t *ke = k;
	while (ke < end && *ke != '\r' && *ke != ' ')
		ke++;
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	uint8_t joined[128], digest[20];
	size_t kl = (size_t)(ke - k);
	if (kl == 0 || kl + sizeof guid > sizeof joined)
		return -1;
	memcpy(joined, k, kl);
	memcpy(joined + kl, guid, sizeof guid - 1);
	sha1(joined, kl + sizeof guid - 1, digest);
	char accept[32];
	size_t al = base64(digest, 20, accept);
	char answer[256];
	int len = snprintf(answer, sizeof answer,
	                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                   "Sec-WebSocket-Accept: %.*s\r\n\r\n", (int)al, accept);
	uint8_t *p = out_space(c, (size_t)len);
	if (!p)
		return -1;
	memcpy(p, answer, (size_t)len);
	c->upgraded = 1;
	return (long)head;
}

/* Parses client frames in bytes[0..n), echoing each; returns bytes used, -1 to close. */
static long frames(struct conn *c, uint8_t *bytes, size_t n)
{
	size_t used = 0;
	while (!c->closing && n - used >= 2) {
		uint8_t *f = bytes + used;
		size_t avail = n - used;
		uint8_t opcode = f[0] & 0x0F;
		if (!(f[0] & 0x80) || !(f[1] & 0x80))
			return -1;   /* fragments and unmasked frames are not this yardstick's business */
		uint64_t len = f[1] & 0x7F;
		size_t h = 2;
		if (len == 126) {
			if (avail < 4) break;
			len = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10) break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | f[2 + i];
			h = 10;
		}
		if (len > MAX_PENDING)
			return -1;
		if (avail < h + 4 + len)
			break;
		const uint8_t *mask = f + h;
		const uint8_t *payload = f + h + 4;
		uint8_t reply = opcode == 0x9 ? 0xA : opcode;
		if (opcode == 0x1 || opcode == 0x2 || opcode == 0x9 || opcode == 0x8) {
			uint8_t *p = out_frame(c, reply, (size_t)len);
			if (!p)
				return -1;
			/* eight bytes at a time: the key repeats every four bytes of a word */
			uint32_t key32;
			memcpy(&key32, mask, 4);
			uint64_t key64 = (uint64_t)key32 << 32 | key32, word;
			uint64_t i = 0;
			for (; i + 8 <= len; i += 8) {
				memcpy(&word, payload + i, 8);
				word ^= key64;
				memcpy(p + i, &word, 8);
			}
			for (; i < len; i++)
				p[i] = payload[i] ^ mask[i & 3];
		}
		if (opcode == 0x8)
			c->closing = 1;
		used += h + 4 + (size_t)len;
	}
	return (long)used;
}

static long consume(struct conn *c, uint8_t *bytes, size_t n)
{
	long used = 0;
	if (!c->upgraded) {
		used = handshake(c, bytes, n);
		if (used <= 0)
			return used;
	}
	long more = frames(c, bytes + used, n - (size_t)used);
	return more < 0 ? -1 : used + more;
}

static void on_readable(struct conn *c, uint8_t *buffer)
{
	ssize_t n = recv(c->fd, buffer, RECV_SIZE, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	uint8_t *bytes = buffer;
	size_t len = (size_t)n;
	if (c->in_len) {   /* a frame began in an earlier read */
		if (reserve(&c->in, &c->in_cap, c->in_len + len, MAX_PENDING)) {
			conn_close(c);
			return;
		}
		memcpy(c->in + c->in_len, buffer, len);
		c->in_len += len;
		bytes = c->in;
		len = c->in_len;
	}
	long used = consume(c, bytes, len);
	if (used < 0) {
		conn_close(c);
		return;
	}
	size_t rest = len - (size_t)used;
	if (rest && reserve(&c->in, &c->in_cap, rest, MAX_PENDING)) {
		conn_close(c);
		return;
	}
	if (rest)
		memmove(c->in, bytes + used, rest);   /* c->in may be bytes itself */
	c->in_len = rest;
}

static void flush(struct conn *c)
{
	c->dirty = 0;
	while (c->out_off < c->out_len) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (k > 0) {
			c->out_off += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.fd = c->fd};
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		conn_close(c);
		return;
	}
	if (c->closing)
		conn_close(c);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: floor-echo PORT [LIFETIME_S]\n");
		return 2;
	}
	int port = atoi(argv[1]);
	int lifetime = argc > 2 ? atoi(argv[2]) : 600;
	signal(SIGPIPE, SIG_IGN);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096)) {
		perror("floor-echo: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	uint8_t *buffer = malloc(RECV_SIZE);
	if (!buffer)
		return 1;
	printf("floor-echo listening on ws://127.0.0.1:%d/\n", port);
	fflush(stdout);
	time_t stop = time(NULL) + lifetime;
	struct epoll_event events[512];
	while (time(NULL) < stop) {
		int n = epoll_wait(ep, events, 512, 1000);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == lfd) {
				for (;;) {
					int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
					if (cfd < 0)
						break;
					if (cfd >= MAX_FDS) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct conn *c = calloc(1, sizeof *c);
					if (!c) {
						close(cfd);
						continue;
					}
					c->fd = cfd;
					conns[cfd] = c;
					struct epoll_event ev = {.events = EPOLLIN, .data.fd = cfd};
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
				}
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (events[i].events & EPOLLOUT) {
				struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				flush(c);
				if (!conns[fd])
					continue;
			}
			if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c, buffer);
		}
		for (int i = 0; i < dirty_count; i++) {
			struct conn *c = conns[dirty[i]];
			if (c && c->dirty)
				flush(c);
		}
		dirty_count = 0;
	}
	return 0;
}
