// CParleyTLS: OpenSSL (libssl + libcrypto) loaded at run time with dlopen, behind a small API.
//
// No OpenSSL header is needed to build: the few functions used are declared here with opaque
// pointers and resolved with dlsym the first time TLS is requested (cpt_load). Every other
// cpt_* function may only be called after cpt_load returned 0.
#ifndef C_PARLEY_TLS_H
#define C_PARLEY_TLS_H

#include <stddef.h>
#include <stdint.h>

/// An SSL_CTX with what Parley keeps next to it (the server's ALPN list).
typedef struct cpt_context cpt_context;
/// One SSL connection object.
typedef struct cpt_session cpt_session;

// MARK: Loading

/// The built-in library candidates of this OS, most preferred first (libssl name, libcrypto name).
int cpt_default_candidate_count(void);
const char *cpt_default_candidate_ssl(int index);
const char *cpt_default_candidate_crypto(int index);

/// Loads OpenSSL from the first candidate pair that opens and has every function needed.
/// Returns 0 when a candidate loads, -1 with a description of each failure in `message`. The
/// first library loaded stays in use: later successful calls change nothing.
int cpt_load(const char *const *ssl_names, const char *const *crypto_names, int count,
             char *message, size_t message_length);
/// 1 once OpenSSL is loaded.
int cpt_is_loaded(void);
/// The loaded library's version text, e.g. "OpenSSL 3.0.11 19 Sep 2023".
const char *cpt_version_text(void);

// MARK: Errors

/// Pops the thread's OpenSSL error queue into `buffer` as "reason; reason" (NUL-terminated).
/// Returns the number of errors popped.
int cpt_error_drain(char *buffer, size_t length);
/// Empties the thread's OpenSSL error queue.
void cpt_error_clear(void);
/// The text of an X509 verification result, e.g. "certificate has expired".
const char *cpt_verify_result_text(long result);

// MARK: Contexts

enum {
    CPT_ROLE_CLIENT = 0,
    CPT_ROLE_SERVER = 1,
};

enum {
    CPT_VERSION_TLS12 = 0x0303,
    CPT_VERSION_TLS13 = 0x0304,
};

enum {
    /// No peer certificate is requested (servers) or checked (clients).
    CPT_VERIFY_NONE = 0,
    /// The peer's certificate is verified when sent; a client always gets one.
    CPT_VERIFY_PEER = 1,
    /// Servers: a client without a certificate fails the handshake.
    CPT_VERIFY_REQUIRE_PEER_CERTIFICATE = 3,
};

/// A new context with TLS `min_version` minimum, partial writes, moving write buffers and
/// released idle buffers (SSL_MODE_RELEASE_BUFFERS; see cpt_session_keep_buffers), read ahead,
/// renegotiation off. NULL on failure.
cpt_context *cpt_context_new(int role, int min_version);
void cpt_context_free(cpt_context *context);

/// PEM bytes: the leaf certificate first, then its chain. 1 on success.
int cpt_context_use_certificate_chain(cpt_context *context, const uint8_t *pem, size_t length);
/// PEM bytes of the private key (unencrypted). Checks it matches the certificate. 1 on success.
int cpt_context_use_private_key(cpt_context *context, const uint8_t *pem, size_t length);
/// Trusts the system's default CA store. 1 on success.
int cpt_context_trust_system(cpt_context *context);
/// Trusts every certificate in the PEM bytes. Returns the number added, 0 if none.
int cpt_context_trust_certificates(cpt_context *context, const uint8_t *pem, size_t length);
/// One of CPT_VERIFY_*.
void cpt_context_set_verify(cpt_context *context, int mode);
/// ALPN protocol names in wire format (length-prefixed). Clients offer them; servers pick the
/// first of theirs the client offers (or proceed without ALPN). 1 on success.
int cpt_context_set_alpn(cpt_context *context, const uint8_t *wire, size_t length);

// MARK: Sessions

enum {
    CPT_WANT_READ = -1,
    CPT_WANT_WRITE = -2,
    /// The peer sent close_notify.
    CPT_CLOSED = -3,
    /// The transport ended without close_notify.
    CPT_END_OF_STREAM = -4,
    /// A system call failed; the errno is in the out parameter.
    CPT_SYSCALL = -5,
    /// A TLS failure; the reasons are on the error queue (cpt_error_drain).
    CPT_FAILED = -6,
};

/// A new session of the context, reading and writing `fd`, as client or server (the context's
/// role). NULL on failure.
cpt_session *cpt_session_new(cpt_context *context, int fd);
void cpt_session_free(cpt_session *session);

/// Clients: sends `name` as SNI and verifies the certificate against it (DNS name). 1 on success.
int cpt_session_set_host_name(cpt_session *session, const char *name);
/// Clients: verifies the certificate against the IP address `ip` (textual IPv4 or IPv6), no SNI.
int cpt_session_set_ip_address(cpt_session *session, const char *ip);

/// Each returns >= 0 on success (handshake: 0; read/write: bytes, at least 1; shutdown: 0 when
/// close_notify was sent, 1 when both sides sent it) or one of the negative CPT_* codes.
/// `error_number` receives errno for CPT_SYSCALL.
int cpt_session_handshake(cpt_session *session, int *error_number);
int cpt_session_read(cpt_session *session, void *buffer, int length, int *error_number);
int cpt_session_write(cpt_session *session, const void *buffer, int length, int *error_number);
int cpt_session_shutdown(cpt_session *session, int *error_number);

/// The X509 verification result of the peer's certificate (0: ok).
long cpt_session_verify_result(cpt_session *session);
/// The negotiated ALPN protocol, or NULL (with *length 0).
const uint8_t *cpt_session_alpn(cpt_session *session, unsigned int *length);
/// The negotiated protocol version text, e.g. "TLSv1.3".
const char *cpt_session_version(cpt_session *session);
/// Decrypted bytes buffered inside the session, readable without waiting for the socket.
int cpt_session_pending(cpt_session *session);
/// 1 when the session holds bytes read from the socket and not yet returned: decrypted data, or
/// records read ahead (possibly incomplete, so a read may still want more from the socket).
int cpt_session_has_pending(cpt_session *session);

/// The context releases a connection's read and write buffers (16-17 KiB each) whenever no
/// record waits in them, so an idle connection holds none; a busy one pays a malloc and a free
/// per record for it. `keep` 1: this session keeps its buffers from now on; returns 1, or 0
/// when the library could not release them later (nothing changes then). `keep` 0: releases
/// them again per record, and now if no record is under way; returns 1 when they were released.
int cpt_session_keep_buffers(cpt_session *session, int keep);

#endif
