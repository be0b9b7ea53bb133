// A small synchronous AMQP 0-9-1 client over Debian's librabbitmq (rabbitmq-c), for Rummage's event
// queue: one connection, one channel, durable queues, persistent messages with publisher confirms,
// and consumption with manual acknowledgements. librabbitmq's login is variadic (not callable from
// Swift) and its replies are unions of structs: this shim turns both into plain calls that return 0 on
// success and -1 with a message in `error` on failure.
#ifndef CRABBITMQ_H
#define CRABBITMQ_H

#include <stddef.h>
#include <stdint.h>

typedef struct crmq crmq;

/// Connects and logs in (PLAIN), opens channel 1. NULL on failure (message in `error`).
crmq *crmq_open(const char *host, int port, const char *vhost, const char *user, const char *password,
                char *error, size_t error_length);
void crmq_close(crmq *connection);

/// Declares a durable queue (no-op when it exists with the same settings).
int crmq_declare_queue(crmq *connection, const char *queue, char *error, size_t error_length);

/// Publishes `body` as a persistent message to `queue` (default exchange), with `app_id` (the producer;
/// NULL: none) as its app-id property, and waits for the broker's confirm: when it returns 0 the broker
/// has taken responsibility for the message.
int crmq_publish(crmq *connection, const char *queue, const void *body, size_t length, const char *app_id, char *error,
                 size_t error_length);

/// Starts consuming `queue` with manual acknowledgements, at most `prefetch` unacknowledged messages.
int crmq_consume(crmq *connection, const char *queue, int prefetch, char *error, size_t error_length);

/// Waits up to `timeout_ms` for the next message: 1 with its delivery tag, body and app-id property
/// (length 0 when absent; both valid until the next call), 0 on timeout, -1 on error.
int crmq_next(crmq *connection, int timeout_ms, uint64_t *delivery_tag, const void **body, size_t *length,
              const void **app_id, size_t *app_id_length, char *error, size_t error_length);

/// Acknowledges `delivery_tag` (and, with `multiple`, every earlier one).
int crmq_ack(crmq *connection, uint64_t delivery_tag, int multiple, char *error, size_t error_length);

/// Number of messages ready in `queue` (passive declare), or -1.
long crmq_queue_length(crmq *connection, const char *queue, char *error, size_t error_length);

#endif
