#ifndef CMICROHTTPD_H
#define CMICROHTTPD_H
#include <stddef.h>
#include <stdint.h>

/// One fully buffered request, valid only during the handler call.
typedef struct cmhd_request {
    const char *method;
    const char *url;          // path without the query string
    const char *body;         // NUL-terminated; NULL when body_len == 0
    size_t body_len;
    void *connection;         // for cmhd_header / cmhd_query during the call
} cmhd_request;

/// Filled by the handler. `body` must be malloc()ed (MHD frees it) or NULL.
typedef struct cmhd_response {
    unsigned int status;
    char *body;
    size_t body_len;
    const char *content_type; // static string; NULL means application/json
    char *headers;            // malloc()ed "Name: value\n" lines to add, or NULL; freed by the shim
} cmhd_response;

typedef void (*cmhd_handler)(void *context, const cmhd_request *request, cmhd_response *response);

typedef struct cmhd_server cmhd_server;

/// How a daemon listens and what it allows each client.
typedef struct cmhd_config {
    const char *host;               // a numeric IPv4 or IPv6 address ("::" and "0.0.0.0": every interface)
    uint16_t port;                  // 0 picks a free one
    unsigned int threads;           // workers running the handler
    size_t max_body;                // larger bodies are answered 413, declared ones before any byte is read
    size_t max_buffered;            // all bodies being received together; over it, 503
    unsigned int idle_timeout;      // seconds without traffic before a connection is closed
    unsigned int header_timeout;    // seconds from connect (or the previous answer) to a complete request header
    unsigned int connection_limit;  // open connections in all
    unsigned int per_client_limit;  // open connections from one IP address
    const char *tls_cert_pem;       // with tls_key_pem: HTTPS (GnuTLS); NULL: plain HTTP
    const char *tls_key_pem;
} cmhd_config;

/// Starts a daemon: one epoll thread for the sockets, a watchdog for header deadlines, and
/// `config->threads` worker threads running the handler. Returns NULL on failure, with a reason in `error`.
cmhd_server *cmhd_start(const cmhd_config *config, cmhd_handler handler, void *context, char *error, size_t error_len);
/// The port the daemon listens on.
uint16_t cmhd_port(cmhd_server *server);
/// Stops accepting new connections (in-flight requests continue).
void cmhd_quiesce(cmhd_server *server);
/// Requests queued for or being run by a worker.
size_t cmhd_pending(cmhd_server *server);
/// Open connections.
size_t cmhd_connections(cmhd_server *server);
/// Stops the daemon and frees it.
void cmhd_stop(cmhd_server *server);
/// A request header or query argument, during the handler call (NULL when absent).
const char *cmhd_header(void *connection, const char *name);
const char *cmhd_query(void *connection, const char *name);
/// The client's IP address as text, during the handler call.
void cmhd_client_address(void *connection, char *out, size_t out_len);
#endif
