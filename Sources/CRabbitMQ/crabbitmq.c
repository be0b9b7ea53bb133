#include "crabbitmq.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct crmq {
    amqp_connection_state_t state;
    int confirming;
    amqp_envelope_t envelope;
    int has_envelope;
};

static const amqp_channel_t channel = 1;

static int fail(char *error, size_t length, const char *what, const char *detail) {
    snprintf(error, length, "%s: %s", what, detail);
    return -1;
}

/// 0 when `reply` is normal, else -1 with a description.
static int check(amqp_rpc_reply_t reply, const char *what, char *error, size_t length) {
    switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return 0;
    case AMQP_RESPONSE_NONE:
        return fail(error, length, what, "missing RPC reply");
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return fail(error, length, what, amqp_error_string2(reply.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = reply.reply.decoded;
            snprintf(error, length, "%s: connection closed by the broker: %.*s", what, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = reply.reply.decoded;
            snprintf(error, length, "%s: channel closed by the broker: %.*s", what, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else {
            snprintf(error, length, "%s: broker error (method 0x%08X)", what, reply.reply.id);
        }
        return -1;
    }
    return fail(error, length, what, "unknown reply");
}

crmq *crmq_open(const char *host, int port, const char *vhost, const char *user, const char *password,
                char *error, size_t error_length) {
    amqp_connection_state_t state = amqp_new_connection();
    if (!state) { fail(error, error_length, "amqp", "out of memory"); return NULL; }
    amqp_socket_t *socket = amqp_tcp_socket_new(state);
    if (!socket) { fail(error, error_length, "amqp", "cannot create a socket"); amqp_destroy_connection(state); return NULL; }
    struct timeval timeout = {.tv_sec = 5, .tv_usec = 0};
    int status = amqp_socket_open_noblock(socket, host, port, &timeout);
    if (status != AMQP_STATUS_OK) {
        fail(error, error_length, "amqp connect", amqp_error_string2(status));
        amqp_destroy_connection(state);
        return NULL;
    }
    // Heartbeats every 30 s: a dead peer or a black-holed path is noticed within a minute.
    if (check(amqp_login(state, vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, user, password), "amqp login", error, error_length) != 0 ||
        (amqp_channel_open(state, channel), check(amqp_get_rpc_reply(state), "amqp channel", error, error_length)) != 0) {
        amqp_destroy_connection(state);
        return NULL;
    }
    crmq *connection = calloc(1, sizeof(crmq));
    connection->state = state;
    return connection;
}

void crmq_close(crmq *connection) {
    if (!connection) return;
    if (connection->has_envelope) amqp_destroy_envelope(&connection->envelope);
    amqp_channel_close(connection->state, channel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(connection->state, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(connection->state);
    free(connection);
}

int crmq_declare_queue(crmq *connection, const char *queue, char *error, size_t error_length) {
    amqp_queue_declare(connection->state, channel, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
    return check(amqp_get_rpc_reply(connection->state), "amqp queue.declare", error, error_length);
}

long crmq_queue_length(crmq *connection, const char *queue, char *error, size_t error_length) {
    amqp_queue_declare_ok_t *ok = amqp_queue_declare(connection->state, channel, amqp_cstring_bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    if (check(amqp_get_rpc_reply(connection->state), "amqp queue.declare", error, error_length) != 0 || !ok) return -1;
    return (long)ok->message_count;
}

int crmq_publish(crmq *connection, const char *queue, const void *body, size_t length, const char *app_id, char *error,
                 size_t error_length) {
    if (!connection->confirming) {
        amqp_confirm_select(connection->state, channel);
        if (check(amqp_get_rpc_reply(connection->state), "amqp confirm.select", error, error_length) != 0) return -1;
        connection->confirming = 1;
    }
    amqp_basic_properties_t properties;
    properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG;
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    properties.content_type = amqp_cstring_bytes("application/x-ndjson");
    if (app_id) {
        properties._flags |= AMQP_BASIC_APP_ID_FLAG;
        properties.app_id = amqp_cstring_bytes(app_id);
    }
    amqp_bytes_t bytes = {.len = length, .bytes = (void *)body};
    int status = amqp_basic_publish(connection->state, channel, amqp_empty_bytes, amqp_cstring_bytes(queue), 1, 0, &properties, bytes);
    if (status != AMQP_STATUS_OK) return fail(error, error_length, "amqp publish", amqp_error_string2(status));
    // The confirm: basic.ack (taken) or basic.nack (refused); basic.return precedes an unroutable message's ack.
    for (;;) {
        amqp_frame_t frame;
        struct timeval timeout = {.tv_sec = 10, .tv_usec = 0};
        status = amqp_simple_wait_frame_noblock(connection->state, &frame, &timeout);
        if (status != AMQP_STATUS_OK) return fail(error, error_length, "amqp publish confirm", amqp_error_string2(status));
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD:
            return 0;
        case AMQP_BASIC_NACK_METHOD:
            return fail(error, error_length, "amqp publish", "the broker refused the message (basic.nack)");
        case AMQP_BASIC_RETURN_METHOD: {
            amqp_message_t returned;
            amqp_read_message(connection->state, channel, &returned, 0);
            amqp_destroy_message(&returned);
            return fail(error, error_length, "amqp publish", "no such queue (message returned)");
        }
        case AMQP_CHANNEL_CLOSE_METHOD:
            return fail(error, error_length, "amqp publish", "channel closed by the broker");
        default:
            continue;
        }
    }
}

int crmq_consume(crmq *connection, const char *queue, int prefetch, char *error, size_t error_length) {
    amqp_basic_qos(connection->state, channel, 0, (uint16_t)prefetch, 0);
    if (check(amqp_get_rpc_reply(connection->state), "amqp basic.qos", error, error_length) != 0) return -1;
    amqp_basic_consume(connection->state, channel, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    return check(amqp_get_rpc_reply(connection->state), "amqp basic.consume", error, error_length);
}

int crmq_next(crmq *connection, int timeout_ms, uint64_t *delivery_tag, const void **body, size_t *length,
              const void **app_id, size_t *app_id_length, char *error, size_t error_length) {
    if (connection->has_envelope) {
        amqp_destroy_envelope(&connection->envelope);
        connection->has_envelope = 0;
    }
    amqp_maybe_release_buffers(connection->state);
    struct timeval timeout = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    amqp_rpc_reply_t reply = amqp_consume_message(connection->state, &connection->envelope, &timeout, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) return 0;
    if (check(reply, "amqp consume", error, error_length) != 0) return -1;
    connection->has_envelope = 1;
    *delivery_tag = connection->envelope.delivery_tag;
    *body = connection->envelope.message.body.bytes;
    *length = connection->envelope.message.body.len;
    amqp_basic_properties_t *properties = &connection->envelope.message.properties;
    int has_app_id = (properties->_flags & AMQP_BASIC_APP_ID_FLAG) != 0;
    *app_id = has_app_id ? properties->app_id.bytes : NULL;
    *app_id_length = has_app_id ? properties->app_id.len : 0;
    return 1;
}

int crmq_ack(crmq *connection, uint64_t delivery_tag, int multiple, char *error, size_t error_length) {
    int status = amqp_basic_ack(connection->state, channel, delivery_tag, multiple);
    return status == AMQP_STATUS_OK ? 0 : fail(error, error_length, "amqp ack", amqp_error_string2(status));
}
