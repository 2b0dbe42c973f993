/* tls.h - a TLS client session over memory buffers (OpenSSL memory BIOs).
 *
 * The session does no I/O: the connection feeds it the bytes that arrive
 * from the network (rmig_tls_feed), takes the bytes it must send
 * (rmig_tls_take), and exchanges plaintext with rmig_tls_read/write. So one
 * event loop drives plain and TLS connections alike. Certificate
 * verification is on unless switched off: the server's chain must lead to
 * the CA file (or the system's CAs) and its certificate must name the host
 * (or server_name), which is also sent as SNI. Errors say which. */
#ifndef RMIG_TLS_H
#define RMIG_TLS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct rmig_tls rmig_tls;

typedef struct rmig_tls_opts {
    const char *ca_file;     /* PEM CAs to trust; NULL: the system's */
    const char *cert_file;   /* client certificate (PEM), or NULL */
    const char *key_file;    /* its key (PEM) */
    const char *server_name; /* name to verify and send as SNI; NULL: the host */
    int no_verify;           /* 1: accept any certificate (not recommended) */
} rmig_tls_opts;

/* A session for host; NULL with a message in err (bad CA file, key, ...). */
rmig_tls *rmig_tls_new(const rmig_tls_opts *o, const char *host, char *err, size_t errlen);
void rmig_tls_free(rmig_tls *t);

/* Advances the handshake: 1 done, 0 needs more bytes from the server, -1 failed (err). */
int rmig_tls_handshake(rmig_tls *t, char *err, size_t errlen);
/* Network bytes received. */
int rmig_tls_feed(rmig_tls *t, const void *p, size_t n);
/* Decrypted bytes: > 0 read, 0 none yet, -1 error (err); after the handshake. */
ssize_t rmig_tls_read(rmig_tls *t, void *buf, size_t cap, char *err, size_t errlen);
/* Encrypts plaintext for sending; 0, or -1 (err). */
int rmig_tls_write(rmig_tls *t, const void *p, size_t n, char *err, size_t errlen);
/* Network bytes waiting to be sent, and taking them. */
size_t rmig_tls_pending(const rmig_tls *t);
size_t rmig_tls_take(rmig_tls *t, void *buf, size_t cap);

#endif
