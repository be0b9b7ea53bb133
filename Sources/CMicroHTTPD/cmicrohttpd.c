// A tiny shim over libmicrohttpd: MHD_start_daemon is variadic and its upload callback is called
// several times per request, neither of which Swift can express directly. The shim buffers the body,
// enforces the size limit and hands one complete request to a single handler.
#include "cmicrohttpd.h"
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

struct cmhd_server {
    struct MHD_Daemon *daemon;
    cmhd_handler handler;
    void *context;
    size_t max_body;
    MHD_socket listener;   // returned by quiesce; ours to close
};

typedef struct { char *buf; size_t len, cap; int too_large; } request_state;

static enum MHD_Result send_static(struct MHD_Connection *c, unsigned int status, const char *json) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **state) {
    (void)version;
    struct cmhd_server *server = cls;
    request_state *st = *state;
    if (st == NULL) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        *state = st;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        if (st->len + n > server->max_body) st->too_large = 1;
        if (!st->too_large) {
            if (st->len + n + 1 > st->cap) {
                size_t cap = st->cap ? st->cap : 4096;
                while (cap < st->len + n + 1) cap *= 2;
                char *grown = realloc(st->buf, cap);
                if (!grown) return MHD_NO;
                st->buf = grown;
                st->cap = cap;
            }
            memcpy(st->buf + st->len, upload_data, n);
            st->len += n;
            st->buf[st->len] = 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large) return send_static(connection, 413, "{\"error\":\"request body too large\"}");
    cmhd_request request = { method, url, st->buf, st->len, connection };
    cmhd_response response = { 500, NULL, 0, NULL, NULL };
    server->handler(server->context, &request, &response);
    struct MHD_Response *r = MHD_create_response_from_buffer(response.body_len, response.body,
                                                             response.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) { free(response.body); free(response.allow); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", response.content_type ? response.content_type : "application/json");
    if (response.allow) { MHD_add_response_header(r, "Allow", response.allow); free(response.allow); }
    enum MHD_Result ret = MHD_queue_response(connection, response.status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe) {
    (void)cls; (void)c; (void)toe;
    request_state *st = *state;
    if (st) { free(st->buf); free(st); *state = NULL; }
}

cmhd_server *cmhd_start(uint16_t port, unsigned int threads, size_t max_body, unsigned int timeout_seconds,
                        cmhd_handler handler, void *context) {
    cmhd_server *server = calloc(1, sizeof *server);
    if (!server) return NULL;
    server->handler = handler;
    server->context = context;
    server->max_body = max_body;
    server->listener = MHD_INVALID_SOCKET;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_OptionItem options[] = {
        { MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)(threads ? threads : 1), NULL },
        { MHD_OPTION_SOCK_ADDR, 0, &addr },
        { MHD_OPTION_CONNECTION_LIMIT, 10000, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout_seconds, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    unsigned int flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO
        | MHD_USE_ITC;
    server->daemon = MHD_start_daemon(flags, port, NULL, NULL, &on_request, server, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!server->daemon) { free(server); return NULL; }
    return server;
}

uint16_t cmhd_port(cmhd_server *server) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info ? info->port : 0;
}

void cmhd_quiesce(cmhd_server *server) {
    // MHD stops accepting and hands the listening socket back: closing it refuses new connections.
    if (server->listener == MHD_INVALID_SOCKET) {
        server->listener = MHD_quiesce_daemon(server->daemon);
        if (server->listener != MHD_INVALID_SOCKET) close(server->listener);
    }
}

void cmhd_stop(cmhd_server *server) {
    if (!server) return;
    MHD_stop_daemon(server->daemon);
    free(server);
}

const char *cmhd_header(void *connection, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)connection, MHD_HEADER_KIND, name);
}

const char *cmhd_query(void *connection, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)connection, MHD_GET_ARGUMENT_KIND, name);
}
