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
    char *allow;              // malloc()ed value of an Allow header (405 answers) or NULL; freed by the shim
} cmhd_response;

typedef void (*cmhd_handler)(void *context, const cmhd_request *request, cmhd_response *response);

typedef struct cmhd_server cmhd_server;

/// Starts a daemon on 127.0.0.1:port (0 picks a free port): one epoll thread for the sockets and
/// `threads` worker threads running the handler.
/// Bodies over `max_body` bytes are answered 413 without calling the handler. Returns NULL on failure.
cmhd_server *cmhd_start(uint16_t port, unsigned int threads, size_t max_body, unsigned int timeout_seconds,
                        cmhd_handler handler, void *context);
/// The port the daemon listens on.
uint16_t cmhd_port(cmhd_server *server);
/// Stops accepting new connections (in-flight requests continue).
void cmhd_quiesce(cmhd_server *server);
/// Requests queued for or being run by a worker.
size_t cmhd_pending(cmhd_server *server);
/// Stops the daemon and frees it.
void cmhd_stop(cmhd_server *server);
/// A request header or query argument, during the handler call (NULL when absent).
const char *cmhd_header(void *connection, const char *name);
const char *cmhd_query(void *connection, const char *name);
#endif
