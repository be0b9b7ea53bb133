// A small synchronous Kafka client over Debian's librdkafka, for Rummage's event intake: a consumer in a
// consumer group that commits offsets only when told (after the durable append), a producer that waits
// for each message's delivery report, and librdkafka's built-in mock cluster for tests. Calls return 0
// on success and -1 with a message in `error` on failure (librdkafka's configuration and delivery
// reports are callbacks and opaque lists: this shim turns them into plain calls).
#ifndef CKAFKA_H
#define CKAFKA_H

#include <stddef.h>
#include <stdint.h>

typedef struct ckafka_consumer ckafka_consumer;
typedef struct ckafka_producer ckafka_producer;
typedef struct ckafka_mock ckafka_mock;

/// Joins consumer group `group` on `brokers` (host:port,…) and subscribes to `topic`: no automatic
/// commits, reading from the earliest offset when the group has committed none. NULL on failure.
ckafka_consumer *ckafka_consumer_open(const char *brokers, const char *group, const char *topic, int session_timeout_ms,
                                      char *error, size_t error_length);
/// Leaves the group (without committing) and frees the consumer.
void ckafka_consumer_close(ckafka_consumer *consumer);

/// Waits up to `timeout_ms` for the next message: 1 with its partition, offset, body and `producer`
/// header (length 0 when absent; valid until the next call), 0 on timeout, 2 on a transient condition
/// (described in `error`; librdkafka retries by itself), -1 on a fatal error.
int ckafka_consumer_next(ckafka_consumer *consumer, int timeout_ms, int32_t *partition, int64_t *offset,
                         const void **body, size_t *length, const void **producer, size_t *producer_length,
                         char *error, size_t error_length);

/// How many partitions the group assigned to this consumer now (0 before it joined, or on error).
int ckafka_consumer_assigned(ckafka_consumer *consumer);

/// Commits, synchronously, `offsets[k]` (the next offset to read) for `partitions[k]` of the topic.
int ckafka_consumer_commit(ckafka_consumer *consumer, const int32_t *partitions, const int64_t *offsets, size_t count,
                           char *error, size_t error_length);

/// An idempotent producer (acks from all in-sync replicas). NULL on failure.
ckafka_producer *ckafka_producer_open(const char *brokers, char *error, size_t error_length);
void ckafka_producer_close(ckafka_producer *producer);

/// Produces `body` to `topic` with `producer_name` (NULL: none) as its `producer` header and returns
/// once the broker acknowledged it (0) or delivery failed (-1).
int ckafka_produce(ckafka_producer *producer, const char *topic, const void *body, size_t length, const char *producer_name,
                   char *error, size_t error_length);

/// librdkafka's mock cluster of `brokers` brokers on loopback, living in this process. NULL on failure.
ckafka_mock *ckafka_mock_open(int brokers, char *error, size_t error_length);
/// Its bootstrap servers (host:port,…), valid while it lives.
const char *ckafka_mock_bootstraps(ckafka_mock *mock);
int ckafka_mock_create_topic(ckafka_mock *mock, const char *topic, int partitions, char *error, size_t error_length);
void ckafka_mock_close(ckafka_mock *mock);

#endif
