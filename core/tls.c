/* tls.c - TLS client sessions on memory BIOs (see tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rmig_tls {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> ssl, ssl -> network */
};

/* The first queued OpenSSL error, or what else went wrong. */
static void ssl_error(char *err, size_t errlen, const char *what, const SSL *ssl)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (v != X509_V_OK)
        snprintf(err, errlen, "%s: certificate verify failed: %s", what, X509_verify_cert_error_string(v));
    else
        snprintf(err, errlen, "%s: %s", what, buf[0] ? buf : "the connection was closed during the handshake");
    ERR_clear_error();
}

rmig_tls *rmig_tls_new(const rmig_tls_opts *o, const char *host, char *err, size_t errlen)
{
    rmig_tls *t = calloc(1, sizeof *t);
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx) {
        ssl_error(err, errlen, "TLS setup", NULL);
        goto fail;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    if (o->no_verify) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
        int ok = o->ca_file ? SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(t->ctx);
        if (ok != 1) {
            char what[300];
            snprintf(what, sizeof what, "reading the CA file %s", o->ca_file ? o->ca_file : "(system)");
            ssl_error(err, errlen, what, NULL);
            goto fail;
        }
    }
    if (o->cert_file || o->key_file) {
        if (!o->cert_file || !o->key_file) {
            snprintf(err, errlen, "a client certificate needs both cert_file and key_file");
            goto fail;
        }
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1) {
            char what[300];
            snprintf(what, sizeof what, "reading the client certificate %s", o->cert_file);
            ssl_error(err, errlen, what, NULL);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key_file, SSL_FILETYPE_PEM) != 1) {
            char what[300];
            snprintf(what, sizeof what, "reading the client key %s", o->key_file);
            ssl_error(err, errlen, what, NULL);
            goto fail;
        }
    }
    t->ssl = SSL_new(t->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        snprintf(err, errlen, "out of memory for TLS");
        goto fail;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    const char *name = o->server_name ? o->server_name : host;
    unsigned char ip[16];
    int is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(t->ssl, name);
    if (!o->no_verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(param, name);
        else
            X509_VERIFY_PARAM_set1_host(param, name, 0);
    }
    return t;
fail:
    if (t->ssl) {
        SSL_free(t->ssl); /* frees the BIOs given to it */
    } else {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
    }
    SSL_CTX_free(t->ctx);
    free(t);
    return NULL;
}

void rmig_tls_free(rmig_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    free(t);
}

int rmig_tls_handshake(rmig_tls *t, char *err, size_t errlen)
{
    int r = SSL_do_handshake(t->ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    ssl_error(err, errlen, "TLS handshake", t->ssl);
    return -1;
}

int rmig_tls_feed(rmig_tls *t, const void *p, size_t n)
{
    return BIO_write(t->rbio, p, (int)n) == (int)n ? 0 : -1;
}

ssize_t rmig_tls_read(rmig_tls *t, void *buf, size_t cap, char *err, size_t errlen)
{
    int r = SSL_read(t->ssl, buf, (int)(cap > 1 << 30 ? 1 << 30 : cap));
    if (r > 0)
        return r;
    int e = SSL_get_error(t->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(err, errlen, "the server closed the TLS session");
        return -1;
    }
    ssl_error(err, errlen, "TLS read", NULL);
    return -1;
}

int rmig_tls_write(rmig_tls *t, const void *p, size_t n, char *err, size_t errlen)
{
    const char *b = p;
    while (n) {
        int k = n > (1u << 30) ? (1 << 30) : (int)n;
        int r = SSL_write(t->ssl, b, k);
        if (r <= 0) {
            ssl_error(err, errlen, "TLS write", NULL);
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

size_t rmig_tls_pending(const rmig_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t rmig_tls_take(rmig_tls *t, void *buf, size_t cap)
{
    int r = BIO_read(t->wbio, buf, (int)(cap > 1 << 30 ? 1 << 30 : cap));
    return r > 0 ? (size_t)r : 0;
}
