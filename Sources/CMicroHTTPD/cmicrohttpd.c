// A tiny shim over libmicrohttpd: MHD_start_daemon is variadic and its upload callback is called
// several times per request, neither of which Swift can express directly. The shim buffers the body,
// enforces the size limit and hands one complete request to a single handler.
//
// Threads: one MHD thread does all socket work (epoll); complete requests are suspended and queued to
// a pool of worker threads that run the handler, then resumed to send the answer. So every worker
// serves every connection: with MHD's own thread pool, the thread that wins accept() keeps the
// connection, and a burst of connections could all land on one thread while the others idle.
#include "cmicrohttpd.h"
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

typedef struct request_state {
    char *buf;
    size_t len, cap;
    int too_large;
    enum { RECEIVING, DISPATCHED, ANSWERED } phase;
    struct MHD_Connection *connection;
    const char *method, *url;   // MHD's strings, valid while the connection lives
    cmhd_response response;     // filled by a worker
    struct request_state *next; // in the job queue
} request_state;

struct cmhd_server {
    struct MHD_Daemon *daemon;
    cmhd_handler handler;
    void *context;
    size_t max_body;
    MHD_socket listener;   // returned by quiesce; ours to close
    pthread_t *workers;
    unsigned int worker_count;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    request_state *head, *tail;   // queued requests
    size_t pending;               // queued or being handled
    int stopping;
};

static void *work(void *arg) {
    struct cmhd_server *server = arg;
    for (;;) {
        pthread_mutex_lock(&server->lock);
        while (!server->head && !server->stopping) pthread_cond_wait(&server->wake, &server->lock);
        if (!server->head) { pthread_mutex_unlock(&server->lock); return NULL; }  // stopping, queue empty
        request_state *st = server->head;
        server->head = st->next;
        if (!server->head) server->tail = NULL;
        pthread_mutex_unlock(&server->lock);

        cmhd_request request = { st->method, st->url, st->buf, st->len, st->connection };
        st->response = (cmhd_response){ 500, NULL, 0, NULL, NULL };
        server->handler(server->context, &request, &st->response);
        st->phase = ANSWERED;
        MHD_resume_connection(st->connection);
        pthread_mutex_lock(&server->lock);
        server->pending--;
        pthread_mutex_unlock(&server->lock);
    }
}

static enum MHD_Result send_static(struct MHD_Connection *c, unsigned int status, const char *json) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

// Leaves the path and the query arguments as sent: the Swift side percent-decodes each path segment and
// each query value exactly once. (MHD's default decodes them first, so a router that decodes its segments
// turned "%2541" into "A".)
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *s) {
    (void)cls;
    (void)connection;
    return strlen(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size, void **state) {
    (void)version;
    struct cmhd_server *server = cls;
    request_state *st = *state;
    if (st == NULL) {
        // A declared body over the limit is refused before a byte of it is read or buffered.
        const char *declared = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (declared) {
            char *end = NULL;
            unsigned long long length = strtoull(declared, &end, 10);
            if (end != declared && length > server->max_body) return send_static(connection, 413, "{\"error\":\"request body too large\"}");
        }
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
    if (st->phase == RECEIVING) {
        st->phase = DISPATCHED;
        st->connection = connection;
        st->method = method;
        st->url = url;
        st->next = NULL;
        MHD_suspend_connection(connection);
        pthread_mutex_lock(&server->lock);
        if (server->tail) server->tail->next = st; else server->head = st;
        server->tail = st;
        server->pending++;
        pthread_cond_signal(&server->wake);
        pthread_mutex_unlock(&server->lock);
        return MHD_YES;
    }
    if (st->phase == DISPATCHED) return MHD_NO;  // resumed by a shutdown before a worker answered: close
    cmhd_response response = st->response;
    st->response.body = NULL;
    st->response.allow = NULL;
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
    if (st) { free(st->buf); free(st->response.body); free(st->response.allow); free(st); *state = NULL; }
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
        { MHD_OPTION_SOCK_ADDR, 0, &addr },
        { MHD_OPTION_CONNECTION_LIMIT, 10000, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout_seconds, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, NULL },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_escaped, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->wake, NULL);
    server->worker_count = threads ? threads : 1;
    server->workers = calloc(server->worker_count, sizeof *server->workers);
    if (!server->workers) { free(server); return NULL; }
    unsigned int flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO
        | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    server->daemon = MHD_start_daemon(flags, port, NULL, NULL, &on_request, server, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!server->daemon) { free(server->workers); free(server); return NULL; }
    for (unsigned int i = 0; i < server->worker_count; i++) pthread_create(&server->workers[i], NULL, work, server);
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

size_t cmhd_pending(cmhd_server *server) {
    pthread_mutex_lock(&server->lock);
    size_t pending = server->pending;
    pthread_mutex_unlock(&server->lock);
    return pending;
}

void cmhd_stop(cmhd_server *server) {
    if (!server) return;
    // Workers finish the request in hand and leave; requests still queued stay suspended, and
    // MHD_stop_daemon resumes and closes them.
    pthread_mutex_lock(&server->lock);
    server->stopping = 1;
    server->head = server->tail = NULL;
    pthread_cond_broadcast(&server->wake);
    pthread_mutex_unlock(&server->lock);
    for (unsigned int i = 0; i < server->worker_count; i++) pthread_join(server->workers[i], NULL);
    MHD_stop_daemon(server->daemon);
    pthread_cond_destroy(&server->wake);
    pthread_mutex_destroy(&server->lock);
    free(server->workers);
    free(server);
}

const char *cmhd_header(void *connection, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)connection, MHD_HEADER_KIND, name);
}

const char *cmhd_query(void *connection, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)connection, MHD_GET_ARGUMENT_KIND, name);
}
