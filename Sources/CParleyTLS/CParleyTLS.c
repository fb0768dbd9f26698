// OpenSSL 1.1.1 and 3.x through dlopen/dlsym. The signatures below are OpenSSL's public API with
// every OpenSSL type made an opaque pointer; the constants are OpenSSL's (stable ABI values, the
// same in 1.1.1 and 3.x). Several OpenSSL "functions" are macros over SSL_ctrl/SSL_CTX_ctrl:
// those are called through the ctrl functions with the macro's command number.
#include "CParleyTLS.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MARK: OpenSSL constants (ssl.h, tls1.h, err.h, sslerr.h)

#define SSL_ERROR_SSL 1
#define SSL_ERROR_WANT_READ 2
#define SSL_ERROR_WANT_WRITE 3
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6

#define SSL_CTRL_MODE 33
#define SSL_CTRL_CLEAR_MODE 78
#define SSL_CTRL_SET_READ_AHEAD 41
#define SSL_CTRL_SET_TLSEXT_HOSTNAME 55
#define SSL_CTRL_CHAIN_CERT 89
#define SSL_CTRL_SET_MIN_PROTO_VERSION 123
#define TLSEXT_NAMETYPE_host_name 0

#define SSL_MODE_ENABLE_PARTIAL_WRITE 0x1UL
#define SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER 0x2UL
#define SSL_MODE_RELEASE_BUFFERS 0x10UL

#define SSL_OP_NO_COMPRESSION ((uint64_t)1 << 17)
#define SSL_OP_NO_RENEGOTIATION ((uint64_t)1 << 30)

#define X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS 0x4U
#define OPENSSL_NPN_NEGOTIATED 1
#define SSL_TLSEXT_ERR_OK 0
#define SSL_TLSEXT_ERR_NOACK 3

#define ERR_LIB_SSL 20
#define SSL_R_UNEXPECTED_EOF_WHILE_READING 294

// MARK: The resolved functions

typedef int (*pem_password_cb)(char *buffer, int size, int rwflag, void *user);
typedef int (*alpn_select_cb)(void *ssl, const unsigned char **out, unsigned char *out_length,
                              const unsigned char *in, unsigned int in_length, void *arg);

struct api_table {
    // libssl
    const void *(*TLS_server_method)(void);
    const void *(*TLS_client_method)(void);
    void *(*SSL_CTX_new)(const void *method);
    void (*SSL_CTX_free)(void *ctx);
    long (*SSL_CTX_ctrl)(void *ctx, int cmd, long larg, void *parg);
    uint64_t (*SSL_CTX_set_options)(void *ctx, uint64_t options);
    int (*SSL_CTX_use_certificate)(void *ctx, void *x509);
    int (*SSL_CTX_use_PrivateKey)(void *ctx, void *pkey);
    int (*SSL_CTX_check_private_key)(const void *ctx);
    int (*SSL_CTX_set_default_verify_paths)(void *ctx);
    void *(*SSL_CTX_get_cert_store)(const void *ctx);
    void (*SSL_CTX_set_verify)(void *ctx, int mode, void *callback);
    int (*SSL_CTX_set_alpn_protos)(void *ctx, const unsigned char *protos, unsigned int length);
    void (*SSL_CTX_set_alpn_select_cb)(void *ctx, alpn_select_cb callback, void *arg);
    int (*SSL_CTX_set_session_id_context)(void *ctx, const unsigned char *id, unsigned int length);
    int (*SSL_select_next_proto)(unsigned char **out, unsigned char *out_length,
                                 const unsigned char *server, unsigned int server_length,
                                 const unsigned char *client, unsigned int client_length);
    void *(*SSL_new)(void *ctx);
    void (*SSL_free)(void *ssl);
    int (*SSL_set_fd)(void *ssl, int fd);
    void (*SSL_set_connect_state)(void *ssl);
    void (*SSL_set_accept_state)(void *ssl);
    int (*SSL_do_handshake)(void *ssl);
    int (*SSL_read)(void *ssl, void *buffer, int length);
    int (*SSL_write)(void *ssl, const void *buffer, int length);
    int (*SSL_shutdown)(void *ssl);
    int (*SSL_get_error)(const void *ssl, int ret);
    long (*SSL_ctrl)(void *ssl, int cmd, long larg, void *parg);
    int (*SSL_set1_host)(void *ssl, const char *host);
    void (*SSL_set_hostflags)(void *ssl, unsigned int flags);
    void *(*SSL_get0_param)(void *ssl);
    long (*SSL_get_verify_result)(const void *ssl);
    void (*SSL_get0_alpn_selected)(const void *ssl, const unsigned char **data, unsigned int *length);
    const char *(*SSL_get_version)(const void *ssl);
    int (*SSL_pending)(const void *ssl);
    int (*SSL_has_pending)(const void *ssl);
    // optional (NULL when the library lacks them)
    int (*SSL_free_buffers)(void *ssl);
    const char *(*SSL_rstate_string)(const void *ssl);
    // libcrypto
    unsigned long (*ERR_get_error)(void);
    unsigned long (*ERR_peek_error)(void);
    void (*ERR_clear_error)(void);
    void (*ERR_error_string_n)(unsigned long error, char *buffer, size_t length);
    const char *(*ERR_reason_error_string)(unsigned long error);
    const char *(*X509_verify_cert_error_string)(long result);
    void *(*BIO_new_mem_buf)(const void *buffer, int length);
    int (*BIO_free)(void *bio);
    void *(*PEM_read_bio_X509)(void *bio, void **x509, pem_password_cb callback, void *user);
    void *(*PEM_read_bio_PrivateKey)(void *bio, void **pkey, pem_password_cb callback, void *user);
    void (*X509_free)(void *x509);
    void (*EVP_PKEY_free)(void *pkey);
    int (*X509_STORE_add_cert)(void *store, void *x509);
    int (*X509_VERIFY_PARAM_set1_ip_asc)(void *param, const char *ip);
    unsigned long (*OpenSSL_version_num)(void);
    const char *(*OpenSSL_version)(int type);
};

/// The functions in use: written once, by the first successful cpt_load, then only read.
static struct api_table api;

struct symbol {
    const char *name;
    size_t offset; // in struct api_table
    int crypto;    // 0: libssl, 1: libcrypto
    int optional;  // 1: a library without it still loads (the feature using it is off)
};

#define SSL_SYMBOL(name) { #name, offsetof(struct api_table, name), 0, 0 }
#define CRYPTO_SYMBOL(name) { #name, offsetof(struct api_table, name), 1, 0 }
#define OPTIONAL_SSL_SYMBOL(name) { #name, offsetof(struct api_table, name), 0, 1 }

static const struct symbol symbols[] = {
    SSL_SYMBOL(TLS_server_method), SSL_SYMBOL(TLS_client_method), SSL_SYMBOL(SSL_CTX_new),
    SSL_SYMBOL(SSL_CTX_free), SSL_SYMBOL(SSL_CTX_ctrl), SSL_SYMBOL(SSL_CTX_set_options),
    SSL_SYMBOL(SSL_CTX_use_certificate), SSL_SYMBOL(SSL_CTX_use_PrivateKey),
    SSL_SYMBOL(SSL_CTX_check_private_key), SSL_SYMBOL(SSL_CTX_set_default_verify_paths),
    SSL_SYMBOL(SSL_CTX_get_cert_store), SSL_SYMBOL(SSL_CTX_set_verify),
    SSL_SYMBOL(SSL_CTX_set_alpn_protos), SSL_SYMBOL(SSL_CTX_set_alpn_select_cb),
    SSL_SYMBOL(SSL_CTX_set_session_id_context), SSL_SYMBOL(SSL_select_next_proto),
    SSL_SYMBOL(SSL_new), SSL_SYMBOL(SSL_free), SSL_SYMBOL(SSL_set_fd),
    SSL_SYMBOL(SSL_set_connect_state), SSL_SYMBOL(SSL_set_accept_state),
    SSL_SYMBOL(SSL_do_handshake), SSL_SYMBOL(SSL_read), SSL_SYMBOL(SSL_write),
    SSL_SYMBOL(SSL_shutdown), SSL_SYMBOL(SSL_get_error), SSL_SYMBOL(SSL_ctrl),
    SSL_SYMBOL(SSL_set1_host), SSL_SYMBOL(SSL_set_hostflags), SSL_SYMBOL(SSL_get0_param),
    SSL_SYMBOL(SSL_get_verify_result), SSL_SYMBOL(SSL_get0_alpn_selected),
    SSL_SYMBOL(SSL_get_version), SSL_SYMBOL(SSL_pending), SSL_SYMBOL(SSL_has_pending),
    OPTIONAL_SSL_SYMBOL(SSL_free_buffers), OPTIONAL_SSL_SYMBOL(SSL_rstate_string),
    CRYPTO_SYMBOL(ERR_get_error), CRYPTO_SYMBOL(ERR_peek_error), CRYPTO_SYMBOL(ERR_clear_error),
    CRYPTO_SYMBOL(ERR_error_string_n), CRYPTO_SYMBOL(ERR_reason_error_string),
    CRYPTO_SYMBOL(X509_verify_cert_error_string), CRYPTO_SYMBOL(BIO_new_mem_buf),
    CRYPTO_SYMBOL(BIO_free), CRYPTO_SYMBOL(PEM_read_bio_X509), CRYPTO_SYMBOL(PEM_read_bio_PrivateKey),
    CRYPTO_SYMBOL(X509_free), CRYPTO_SYMBOL(EVP_PKEY_free), CRYPTO_SYMBOL(X509_STORE_add_cert),
    CRYPTO_SYMBOL(X509_VERIFY_PARAM_set1_ip_asc), CRYPTO_SYMBOL(OpenSSL_version_num),
    CRYPTO_SYMBOL(OpenSSL_version),
};

/// SSL_get_error needs the thread's error queue empty before an I/O call. ERR_clear_error
/// resets every slot of it (~800 instructions in OpenSSL 3, more than encrypting a small
/// record) and even ERR_peek_error costs ~200, so each thread remembers whether its queue is
/// known to be empty: true after a successful read or write that started with it empty; false
/// after anything else this file calls (handshakes, failures, contexts), which may leave errors.
static __thread int queue_known_empty = 0;

/// Marks the thread's error queue as possibly holding errors (see queue_known_empty).
#define ERRORS_POSSIBLE() (queue_known_empty = 0)

// MARK: Loading

// Versioned names only: on Darwin, opening the unversioned /usr/lib/libssl.dylib (LibreSSL, no
// stable ABI) aborts the process.
#ifdef __APPLE__
static const char *const default_ssl[] = {
    "/opt/homebrew/opt/openssl@3/lib/libssl.3.dylib",
    "/usr/local/opt/openssl@3/lib/libssl.3.dylib",
    "libssl.3.dylib",
    "/opt/homebrew/opt/openssl@1.1/lib/libssl.1.1.dylib",
    "/usr/local/opt/openssl@1.1/lib/libssl.1.1.dylib",
    "libssl.1.1.dylib",
};
static const char *const default_crypto[] = {
    "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
    "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
    "libcrypto.3.dylib",
    "/opt/homebrew/opt/openssl@1.1/lib/libcrypto.1.1.dylib",
    "/usr/local/opt/openssl@1.1/lib/libcrypto.1.1.dylib",
    "libcrypto.1.1.dylib",
};
#else
static const char *const default_ssl[] = { "libssl.so.3", "libssl.so.1.1" };
static const char *const default_crypto[] = { "libcrypto.so.3", "libcrypto.so.1.1" };
#endif

#define DEFAULT_COUNT ((int)(sizeof default_ssl / sizeof default_ssl[0]))

int cpt_default_candidate_count(void) { return DEFAULT_COUNT; }

const char *cpt_default_candidate_ssl(int index) {
    return index >= 0 && index < DEFAULT_COUNT ? default_ssl[index] : NULL;
}

const char *cpt_default_candidate_crypto(int index) {
    return index >= 0 && index < DEFAULT_COUNT ? default_crypto[index] : NULL;
}

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded = 0;
/// The major version (1 or 3): error codes are packed differently.
static unsigned long major_version = 0;

static void append(char *message, size_t length, const char *text) {
    if (length == 0) return;
    size_t used = strnlen(message, length);
    if (used + 1 >= length) return;
    snprintf(message + used, length - used, "%s", text);
}

/// Opens one candidate pair and resolves every symbol into `table`; on failure says why in
/// `message` and closes what it opened.
static int try_candidate(const char *ssl_name, const char *crypto_name, struct api_table *table,
                         char *message, size_t length) {
    char line[512];
    void *crypto = dlopen(crypto_name, RTLD_NOW | RTLD_LOCAL);
    if (!crypto) {
        const char *reason = dlerror();
        snprintf(line, sizeof line, "%s%s", message[0] ? "; " : "", reason ? reason : crypto_name);
        append(message, length, line);
        return -1;
    }
    void *ssl = dlopen(ssl_name, RTLD_NOW | RTLD_LOCAL);
    if (!ssl) {
        const char *reason = dlerror();
        snprintf(line, sizeof line, "%s%s", message[0] ? "; " : "", reason ? reason : ssl_name);
        append(message, length, line);
        dlclose(crypto);
        return -1;
    }
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        void *address = dlsym(symbols[i].crypto ? crypto : ssl, symbols[i].name);
        if (!address && symbols[i].optional) {
            memset((char *)table + symbols[i].offset, 0, sizeof address);
            continue;
        }
        if (!address) {
            snprintf(line, sizeof line, "%s%s has no function %s (OpenSSL 1.1.1 or later is needed)",
                     message[0] ? "; " : "", symbols[i].crypto ? crypto_name : ssl_name, symbols[i].name);
            append(message, length, line);
            dlclose(ssl);
            dlclose(crypto);
            return -1;
        }
        memcpy((char *)table + symbols[i].offset, &address, sizeof address);
    }
    if (__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) {
        // Loaded before (maybe from another candidate): keep that one; this one stays usable.
        dlclose(ssl);
        dlclose(crypto);
    }
    // Otherwise the handles stay open for the life of the process.
    return 0;
}

int cpt_load(const char *const *ssl_names, const char *const *crypto_names, int count,
             char *message, size_t message_length) {
    if (message_length > 0) message[0] = 0;
    pthread_mutex_lock(&load_lock);
    int result = -1;
    for (int i = 0; i < count; i++) {
        struct api_table table;
        if (try_candidate(ssl_names[i], crypto_names[i], &table, message, message_length) == 0) {
            if (!__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) {
                api = table;
                major_version = api.OpenSSL_version_num() >> 28;
                __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
            }
            result = 0;
            break;
        }
    }
    pthread_mutex_unlock(&load_lock);
    if (result == 0 && message_length > 0) message[0] = 0;
    return result;
}

int cpt_is_loaded(void) { return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE); }

const char *cpt_version_text(void) { return api.OpenSSL_version(0); }

// MARK: Errors

int cpt_error_drain(char *buffer, size_t length) {
    if (length > 0) buffer[0] = 0;
    queue_known_empty = 1;
    int count = 0;
    unsigned long previous = 0;
    unsigned long error;
    while ((error = api.ERR_get_error()) != 0) {
        count++;
        if (error == previous) continue;
        previous = error;
        char text[256];
        const char *reason = api.ERR_reason_error_string(error);
        if (reason) {
            snprintf(text, sizeof text, "%s", reason);
        } else {
            api.ERR_error_string_n(error, text, sizeof text);
        }
        if (length > 0 && buffer[0]) append(buffer, length, "; ");
        append(buffer, length, text);
    }
    return count;
}

void cpt_error_clear(void) {
    api.ERR_clear_error();
    queue_known_empty = 1;
}

const char *cpt_verify_result_text(long result) { return api.X509_verify_cert_error_string(result); }

/// OpenSSL 3 reports a transport EOF without close_notify as this SSL error (1.1.1 reports it
/// as SSL_ERROR_SYSCALL with an empty queue).
static int is_unexpected_eof(unsigned long error) {
    if (major_version < 3) return 0;
    if (error & ((unsigned long)INT_MAX + 1)) return 0; // a system error
    return ((error >> 23) & 0xFF) == ERR_LIB_SSL && (error & 0x7FFFFF) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

// MARK: Contexts

struct cpt_context {
    void *ctx;
    int role;
    unsigned char *alpn;
    unsigned int alpn_length;
};

static int no_password(char *buffer, int size, int rwflag, void *user) {
    (void)buffer; (void)size; (void)rwflag; (void)user;
    return -1;
}

cpt_context *cpt_context_new(int role, int min_version) {
    ERRORS_POSSIBLE();
    const void *method = role == CPT_ROLE_SERVER ? api.TLS_server_method() : api.TLS_client_method();
    if (!method) return NULL;
    void *ctx = api.SSL_CTX_new(method);
    if (!ctx) return NULL;
    cpt_context *context = calloc(1, sizeof *context);
    if (!context) {
        api.SSL_CTX_free(ctx);
        return NULL;
    }
    context->ctx = ctx;
    context->role = role;
    if (api.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, min_version, NULL) != 1) {
        cpt_context_free(context);
        return NULL;
    }
    // Partial writes: SSL_write reports each record written, so a non-blocking writer knows how
    // far it got. Moving buffer: a retried write may pass the same bytes at another address.
    // Release buffers: an idle connection holds no read/write buffer (a busy one keeps them:
    // cpt_session_keep_buffers).
    api.SSL_CTX_ctrl(ctx, SSL_CTRL_MODE,
                     (long)(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS),
                     NULL);
    // Read ahead: one recv takes every record the socket holds (up to the read buffer) instead
    // of a header then a body per record; records left over are reported by SSL_has_pending.
    api.SSL_CTX_ctrl(ctx, SSL_CTRL_SET_READ_AHEAD, 1, NULL);
    api.SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (role == CPT_ROLE_SERVER) {
        // Needed for session resumption when client certificates are requested.
        static const unsigned char id[] = "parley";
        api.SSL_CTX_set_session_id_context(ctx, id, (unsigned int)(sizeof id - 1));
    }
    return context;
}

void cpt_context_free(cpt_context *context) {
    if (!context) return;
    api.SSL_CTX_free(context->ctx);
    free(context->alpn);
    free(context);
}

static void *memory_bio(const uint8_t *pem, size_t length) {
    if (length > INT_MAX) return NULL;
    return api.BIO_new_mem_buf(pem, (int)length);
}

int cpt_context_use_certificate_chain(cpt_context *context, const uint8_t *pem, size_t length) {
    ERRORS_POSSIBLE();
    void *bio = memory_bio(pem, length);
    if (!bio) return 0;
    int ok = 0;
    void *leaf = api.PEM_read_bio_X509(bio, NULL, no_password, NULL);
    if (leaf && api.SSL_CTX_use_certificate(context->ctx, leaf) == 1) {
        ok = 1;
        void *chain;
        while ((chain = api.PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL) {
            // SSL_CTX_add0_chain_cert: the context takes the certificate.
            if (api.SSL_CTX_ctrl(context->ctx, SSL_CTRL_CHAIN_CERT, 0, chain) != 1) {
                api.X509_free(chain);
                ok = 0;
                break;
            }
        }
        // Reading past the last certificate leaves "no start line" on the queue.
        if (ok) api.ERR_clear_error();
    }
    if (leaf) api.X509_free(leaf);
    api.BIO_free(bio);
    return ok;
}

int cpt_context_use_private_key(cpt_context *context, const uint8_t *pem, size_t length) {
    ERRORS_POSSIBLE();
    void *bio = memory_bio(pem, length);
    if (!bio) return 0;
    void *key = api.PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    api.BIO_free(bio);
    if (!key) return 0;
    int ok = api.SSL_CTX_use_PrivateKey(context->ctx, key) == 1 && api.SSL_CTX_check_private_key(context->ctx) == 1;
    api.EVP_PKEY_free(key);
    return ok;
}

int cpt_context_trust_system(cpt_context *context) {
    ERRORS_POSSIBLE();
    return api.SSL_CTX_set_default_verify_paths(context->ctx) == 1;
}

int cpt_context_trust_certificates(cpt_context *context, const uint8_t *pem, size_t length) {
    ERRORS_POSSIBLE();
    void *store = api.SSL_CTX_get_cert_store(context->ctx);
    void *bio = memory_bio(pem, length);
    if (!store || !bio) {
        if (bio) api.BIO_free(bio);
        return 0;
    }
    int added = 0;
    void *certificate;
    while ((certificate = api.PEM_read_bio_X509(bio, NULL, no_password, NULL)) != NULL) {
        if (api.X509_STORE_add_cert(store, certificate) == 1) added++;
        api.X509_free(certificate);
    }
    api.BIO_free(bio);
    if (added > 0) api.ERR_clear_error();
    return added;
}

void cpt_context_set_verify(cpt_context *context, int mode) {
    api.SSL_CTX_set_verify(context->ctx, mode, NULL);
}

/// Servers: the first of our protocols that the client offers; none in common: no ALPN.
static int select_alpn(void *ssl, const unsigned char **out, unsigned char *out_length,
                       const unsigned char *in, unsigned int in_length, void *arg) {
    (void)ssl;
    cpt_context *context = arg;
    if (in_length == 0 || context->alpn_length == 0) return SSL_TLSEXT_ERR_NOACK;
    unsigned char *selected = NULL;
    unsigned char selected_length = 0;
    if (api.SSL_select_next_proto(&selected, &selected_length, context->alpn, context->alpn_length,
                                  in, in_length) != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_NOACK;
    }
    *out = selected;
    *out_length = selected_length;
    return SSL_TLSEXT_ERR_OK;
}

int cpt_context_set_alpn(cpt_context *context, const uint8_t *wire, size_t length) {
    ERRORS_POSSIBLE();
    if (length == 0 || length > 65535) return 0;
    unsigned char *copy = malloc(length);
    if (!copy) return 0;
    memcpy(copy, wire, length);
    free(context->alpn);
    context->alpn = copy;
    context->alpn_length = (unsigned int)length;
    // SSL_CTX_set_alpn_protos returns 0 on success.
    if (api.SSL_CTX_set_alpn_protos(context->ctx, copy, (unsigned int)length) != 0) return 0;
    api.SSL_CTX_set_alpn_select_cb(context->ctx, select_alpn, context);
    return 1;
}

// MARK: Sessions

struct cpt_session {
    void *ssl;
};

cpt_session *cpt_session_new(cpt_context *context, int fd) {
    ERRORS_POSSIBLE();
    void *ssl = api.SSL_new(context->ctx);
    if (!ssl) return NULL;
    if (api.SSL_set_fd(ssl, fd) != 1) {
        api.SSL_free(ssl);
        return NULL;
    }
    cpt_session *session = calloc(1, sizeof *session);
    if (!session) {
        api.SSL_free(ssl);
        return NULL;
    }
    session->ssl = ssl;
    if (context->role == CPT_ROLE_SERVER) {
        api.SSL_set_accept_state(ssl);
    } else {
        api.SSL_set_connect_state(ssl);
    }
    return session;
}

void cpt_session_free(cpt_session *session) {
    if (!session) return;
    api.SSL_free(session->ssl);
    free(session);
}

int cpt_session_set_host_name(cpt_session *session, const char *name) {
    ERRORS_POSSIBLE();
    // SSL_set_tlsext_host_name
    if (api.SSL_ctrl(session->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name) != 1) {
        return 0;
    }
    api.SSL_set_hostflags(session->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return api.SSL_set1_host(session->ssl, name) == 1;
}

int cpt_session_set_ip_address(cpt_session *session, const char *ip) {
    ERRORS_POSSIBLE();
    void *param = api.SSL_get0_param(session->ssl);
    return param && api.X509_VERIFY_PARAM_set1_ip_asc(param, ip) == 1;
}

/// Maps the result of an SSL I/O call to a CPT_* code (or passes success through).
static int outcome(cpt_session *session, int result, int saved_errno, int *error_number) {
    if (result > 0) return result;
    switch (api.SSL_get_error(session->ssl, result)) {
    case SSL_ERROR_WANT_READ:
        return CPT_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return CPT_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return CPT_CLOSED;
    case SSL_ERROR_SYSCALL:
        if (api.ERR_peek_error() != 0) return CPT_FAILED;
        if (result == 0 || saved_errno == 0) return CPT_END_OF_STREAM;
        if (error_number) *error_number = saved_errno;
        return CPT_SYSCALL;
    case SSL_ERROR_SSL:
        if (is_unexpected_eof(api.ERR_peek_error())) {
            api.ERR_clear_error();
            return CPT_END_OF_STREAM;
        }
        return CPT_FAILED;
    default:
        return CPT_FAILED;
    }
}

static inline void clear_stale_errors(void) {
    if (queue_known_empty) return;
    if (api.ERR_peek_error() != 0) api.ERR_clear_error();
}

int cpt_session_handshake(cpt_session *session, int *error_number) {
    clear_stale_errors();
    errno = 0;
    int result = api.SSL_do_handshake(session->ssl);
    int saved = errno;
    ERRORS_POSSIBLE();
    return result == 1 ? 0 : outcome(session, result, saved, error_number);
}

int cpt_session_read(cpt_session *session, void *buffer, int length, int *error_number) {
    clear_stale_errors();
    errno = 0;
    int result = api.SSL_read(session->ssl, buffer, length);
    int saved = errno;
    queue_known_empty = result > 0;
    return outcome(session, result, saved, error_number);
}

int cpt_session_write(cpt_session *session, const void *buffer, int length, int *error_number) {
    clear_stale_errors();
    errno = 0;
    int result = api.SSL_write(session->ssl, buffer, length);
    int saved = errno;
    queue_known_empty = result > 0;
    return outcome(session, result, saved, error_number);
}

int cpt_session_shutdown(cpt_session *session, int *error_number) {
    clear_stale_errors();
    errno = 0;
    int result = api.SSL_shutdown(session->ssl);
    int saved = errno;
    ERRORS_POSSIBLE();
    if (result == 1) return 1;
    if (result == 0) return 0;
    return outcome(session, result, saved, error_number);
}

long cpt_session_verify_result(cpt_session *session) { return api.SSL_get_verify_result(session->ssl); }

const uint8_t *cpt_session_alpn(cpt_session *session, unsigned int *length) {
    const unsigned char *data = NULL;
    *length = 0;
    api.SSL_get0_alpn_selected(session->ssl, &data, length);
    return *length > 0 ? data : NULL;
}

const char *cpt_session_version(cpt_session *session) { return api.SSL_get_version(session->ssl); }

int cpt_session_pending(cpt_session *session) { return api.SSL_pending(session->ssl); }

int cpt_session_has_pending(cpt_session *session) { return api.SSL_has_pending(session->ssl); }

int cpt_session_keep_buffers(cpt_session *session, int keep) {
    ERRORS_POSSIBLE();
    if (keep) {
        // Without SSL_free_buffers they could not be released once the connection idles.
        if (!api.SSL_free_buffers || !api.SSL_rstate_string) return 0;
        api.SSL_ctrl(session->ssl, SSL_CTRL_CLEAR_MODE, (long)SSL_MODE_RELEASE_BUFFERS, NULL);
        return 1;
    }
    api.SSL_ctrl(session->ssl, SSL_CTRL_MODE, (long)SSL_MODE_RELEASE_BUFFERS, NULL);
    if (!api.SSL_free_buffers || !api.SSL_rstate_string) return 0;
    // Only between records, with nothing read ahead: SSL_free_buffers of OpenSSL before 3.0.14
    // and 1.1.1y also freed a read buffer holding a record header whose body had not arrived
    // (CVE-2024-4741). "RH": the record layer waits for a header. SSL_free_buffers itself
    // refuses while records wait to be read or written.
    const char *state = api.SSL_rstate_string(session->ssl);
    if (!state || strcmp(state, "RH") != 0 || api.SSL_has_pending(session->ssl)) return 0;
    return api.SSL_free_buffers(session->ssl) == 1;
}
