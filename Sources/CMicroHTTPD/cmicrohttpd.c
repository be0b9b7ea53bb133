// A tiny shim over libmicrohttpd: MHD_start_daemon is variadic and its upload callback is called
// several times per request, neither of which Swift can express directly. The shim buffers the body,
// enforces the size limit and hands one complete request to a single handler.
//
// Threads: one MHD thread does all socket work (epoll); complete requests are suspended and queued to
// a pool of worker threads that run the handler, then resumed to send the answer. So every worker
// serves every connection: with MHD's own thread pool, the thread that wins accept() keeps the
// connection, and a burst of connections could all land on one thread while the others idle.
//
// Limits: MHD enforces the connection limits and the idle timeout; the shim refuses declared bodies over
// the limit before reading them, bounds the bytes buffered over all connections, and a watchdog thread
// shuts down connections whose request header is not complete in time (MHD has no such option).
#include "cmicrohttpd.h"
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

// A connection waiting for its request header: the watchdog shuts it down past its deadline.
typedef struct tracked_connection {
    MHD_socket fd;
    uint64_t since_ms;            // connect, or the previous answer
    int awaiting_header;
    struct tracked_connection *prev, *next;
} tracked_connection;

typedef struct request_state {
    char *buf;
    size_t len, cap;
    int too_large, too_busy;
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
    size_t max_body, max_buffered;
    size_t buffered;              // body bytes held by all connections (atomic)
    MHD_socket listener;   // returned by quiesce; ours to close
    pthread_t *workers;
    unsigned int worker_count;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    request_state *head, *tail;   // queued requests
    size_t pending;               // queued or being handled
    int stopping;
    // Header deadlines: the tracked connections and the watchdog that enforces them.
    uint64_t header_timeout_ms;
    pthread_mutex_t tracked_lock;
    pthread_cond_t watchdog_wake;
    tracked_connection *tracked;
    size_t connections;
    pthread_t watchdog;
    int watchdog_running;
};

static uint64_t now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static tracked_connection *tracked_of(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? (tracked_connection *)info->socket_context : NULL;
}

static void set_awaiting_header(struct cmhd_server *server, struct MHD_Connection *connection, int awaiting) {
    tracked_connection *t = tracked_of(connection);
    if (!t) return;
    pthread_mutex_lock(&server->tracked_lock);
    t->awaiting_header = awaiting;
    t->since_ms = now_ms();
    pthread_mutex_unlock(&server->tracked_lock);
}

// Tracks each connection from accept to close. The close notification comes before MHD closes the
// socket, so under the lock a tracked descriptor is still this connection's.
static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context, enum MHD_ConnectionNotificationCode code) {
    struct cmhd_server *server = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        tracked_connection *t = calloc(1, sizeof *t);
        if (!t) return;
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        t->fd = info ? info->connect_fd : MHD_INVALID_SOCKET;
        t->since_ms = now_ms();
        t->awaiting_header = 1;
        pthread_mutex_lock(&server->tracked_lock);
        t->next = server->tracked;
        if (server->tracked) server->tracked->prev = t;
        server->tracked = t;
        server->connections++;
        pthread_mutex_unlock(&server->tracked_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        tracked_connection *t = *socket_context;
        pthread_mutex_lock(&server->tracked_lock);
        server->connections--;
        if (t) {
            if (t->prev) t->prev->next = t->next; else server->tracked = t->next;
            if (t->next) t->next->prev = t->prev;
        }
        pthread_mutex_unlock(&server->tracked_lock);
        free(t);
        *socket_context = NULL;
    }
}

// Every 200 ms, shuts down the sockets of connections past their header deadline; MHD then sees the
// connection end and closes it.
static void *watch_headers(void *arg) {
    struct cmhd_server *server = arg;
    pthread_mutex_lock(&server->tracked_lock);
    while (server->watchdog_running) {
        uint64_t now = now_ms();
        for (tracked_connection *t = server->tracked; t; t = t->next) {
            if (t->awaiting_header && now - t->since_ms > server->header_timeout_ms && t->fd != MHD_INVALID_SOCKET) {
                shutdown(t->fd, SHUT_RDWR);
                t->awaiting_header = 0;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 200 * 1000000L;
        if (until.tv_nsec >= 1000000000L) { until.tv_sec++; until.tv_nsec -= 1000000000L; }
        pthread_cond_timedwait(&server->watchdog_wake, &server->tracked_lock, &until);
    }
    pthread_mutex_unlock(&server->tracked_lock);
    return NULL;
}

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

// Adds "Name: value\n" lines to a response.
static void add_headers(struct MHD_Response *r, char *lines) {
    for (char *line = lines; line && *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        char *colon = strstr(line, ": ");
        if (colon) { *colon = 0; MHD_add_response_header(r, line, colon + 2); }
        if (!end) break;
        line = end + 1;
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
        set_awaiting_header(server, connection, 0);
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
        if (!st->too_large && !st->too_busy) {
            // The bytes every connection buffers together stay under max_buffered.
            size_t before = __atomic_fetch_add(&server->buffered, n, __ATOMIC_RELAXED);
            if (before + n > server->max_buffered) {
                __atomic_fetch_sub(&server->buffered, n, __ATOMIC_RELAXED);
                st->too_busy = 1;
            }
        }
        if (!st->too_large && !st->too_busy) {
            if (st->len + n + 1 > st->cap) {
                size_t cap = st->cap ? st->cap : 4096;
                while (cap < st->len + n + 1) cap *= 2;
                char *grown = realloc(st->buf, cap);
                if (!grown) { __atomic_fetch_sub(&server->buffered, n, __ATOMIC_RELAXED); return MHD_NO; }
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
    if (st->too_busy) return send_static(connection, 503, "{\"error\":\"too many request bodies in flight; retry\"}");
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
    st->response.headers = NULL;
    struct MHD_Response *r = MHD_create_response_from_buffer(response.body_len, response.body,
                                                             response.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) { free(response.body); free(response.headers); return MHD_NO; }
    MHD_add_response_header(r, "Content-Type", response.content_type ? response.content_type : "application/json");
    add_headers(r, response.headers);
    free(response.headers);
    enum MHD_Result ret = MHD_queue_response(connection, response.status, r);
    MHD_destroy_response(r);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    struct cmhd_server *server = cls;
    request_state *st = *state;
    if (st) {
        if (!st->too_large && !st->too_busy) __atomic_fetch_sub(&server->buffered, st->len, __ATOMIC_RELAXED);
        free(st->buf); free(st->response.body); free(st->response.headers); free(st); *state = NULL;
    }
    set_awaiting_header(server, c, 1);  // the next request's header clock starts now
}

cmhd_server *cmhd_start(const cmhd_config *config, cmhd_handler handler, void *context, char *error, size_t error_len) {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    const char *host = config->host ? config->host : "127.0.0.1";
    int ipv6 = 0;
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(config->port);
    } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(config->port);
        ipv6 = 1;
    } else {
        snprintf(error, error_len, "'%s' is not a numeric IPv4 or IPv6 address", host);
        return NULL;
    }
    int tls = config->tls_cert_pem && config->tls_key_pem;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(error, error_len, "this libmicrohttpd was built without TLS");
        return NULL;
    }
    cmhd_server *server = calloc(1, sizeof *server);
    if (!server) { snprintf(error, error_len, "out of memory"); return NULL; }
    server->handler = handler;
    server->context = context;
    server->max_body = config->max_body;
    server->max_buffered = config->max_buffered;
    server->header_timeout_ms = (uint64_t)config->header_timeout * 1000;
    server->listener = MHD_INVALID_SOCKET;
    struct MHD_OptionItem options[] = {
        { MHD_OPTION_SOCK_ADDR, 0, ipv6 ? (void *)&v6 : (void *)&v4 },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)config->connection_limit, NULL },
        { MHD_OPTION_PER_IP_CONNECTION_LIMIT, (intptr_t)config->per_client_limit, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)config->idle_timeout, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, server },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, server },
        { MHD_OPTION_UNESCAPE_CALLBACK, (intptr_t)keep_escaped, NULL },
        { tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)config->tls_cert_pem },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)config->tls_key_pem },
        { MHD_OPTION_END, 0, NULL },
    };
    pthread_mutex_init(&server->lock, NULL);
    pthread_cond_init(&server->wake, NULL);
    pthread_mutex_init(&server->tracked_lock, NULL);
    pthread_cond_init(&server->watchdog_wake, NULL);
    server->worker_count = config->threads ? config->threads : 1;
    server->workers = calloc(server->worker_count, sizeof *server->workers);
    if (!server->workers) { free(server); snprintf(error, error_len, "out of memory"); return NULL; }
    unsigned int flags = MHD_USE_ERROR_LOG | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO
        | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
    if (ipv6) flags |= MHD_USE_IPv6;
    if (tls) flags |= MHD_USE_TLS;
    server->daemon = MHD_start_daemon(flags, config->port, NULL, NULL, &on_request, server, MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!server->daemon) {
        snprintf(error, error_len, "cannot listen on %s%s%s:%u (in use, not an address of this machine, or a bad TLS certificate or key)",
                 ipv6 ? "[" : "", host, ipv6 ? "]" : "", (unsigned)config->port);
        free(server->workers);
        free(server);
        return NULL;
    }
    for (unsigned int i = 0; i < server->worker_count; i++) pthread_create(&server->workers[i], NULL, work, server);
    server->watchdog_running = 1;
    pthread_create(&server->watchdog, NULL, watch_headers, server);
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

size_t cmhd_connections(cmhd_server *server) {
    pthread_mutex_lock(&server->tracked_lock);
    size_t open = server->connections;
    pthread_mutex_unlock(&server->tracked_lock);
    return open;
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
    pthread_mutex_lock(&server->tracked_lock);
    server->watchdog_running = 0;
    pthread_cond_signal(&server->watchdog_wake);
    pthread_mutex_unlock(&server->tracked_lock);
    pthread_join(server->watchdog, NULL);
    MHD_stop_daemon(server->daemon);
    pthread_cond_destroy(&server->watchdog_wake);
    pthread_mutex_destroy(&server->tracked_lock);
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

void cmhd_client_address(void *connection, char *out, size_t out_len) {
    out[0] = 0;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info((struct MHD_Connection *)connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr) return;
    const struct sockaddr *a = info->client_addr;
    if (a->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, out, (socklen_t)out_len);
    else if (a->sa_family == AF_INET6) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, out, (socklen_t)out_len);
}
