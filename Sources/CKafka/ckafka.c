#include "ckafka.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ckafka_consumer {
    rd_kafka_t *handle;
    char *topic;
    rd_kafka_message_t *message;  // the last one returned, freed on the next call
};

struct ckafka_producer {
    rd_kafka_t *handle;
};

struct ckafka_mock {
    rd_kafka_t *handle;
    rd_kafka_mock_cluster_t *cluster;
};

static int fail(char *error, size_t length, const char *what, const char *detail) {
    snprintf(error, length, "%s: %s", what, detail);
    return -1;
}

/// Sets each `key=value` pair of `settings` (NULL-terminated) on `conf`; 0, or -1 with a message.
static int configure(rd_kafka_conf_t *conf, const char **settings, char *error, size_t length) {
    char detail[256];
    for (const char **s = settings; *s; s += 2) {
        if (rd_kafka_conf_set(conf, s[0], s[1], detail, sizeof detail) != RD_KAFKA_CONF_OK) {
            return fail(error, length, "kafka configuration", detail);
        }
    }
    return 0;
}

static rd_kafka_t *create(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *error, size_t length) {
    char detail[512];
    rd_kafka_t *handle = rd_kafka_new(type, conf, detail, sizeof detail);
    if (!handle) {
        rd_kafka_conf_destroy(conf);  // rd_kafka_new takes it only on success
        fail(error, length, "kafka", detail);
    }
    return handle;
}

ckafka_consumer *ckafka_consumer_open(const char *brokers, const char *group, const char *topic, int session_timeout_ms,
                                      char *error, size_t error_length) {
    char session[16], heartbeat[16];
    snprintf(session, sizeof session, "%d", session_timeout_ms);
    snprintf(heartbeat, sizeof heartbeat, "%d", session_timeout_ms / 3 > 0 ? session_timeout_ms / 3 : 1);
    const char *settings[] = {
        "bootstrap.servers", brokers, "group.id", group,
        "enable.auto.commit", "false", "enable.auto.offset.store", "false", "auto.offset.reset", "earliest",
        "session.timeout.ms", session, "heartbeat.interval.ms", heartbeat, "log_level", "3", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (configure(conf, settings, error, error_length) != 0) { rd_kafka_conf_destroy(conf); return NULL; }
    rd_kafka_t *handle = create(RD_KAFKA_CONSUMER, conf, error, error_length);
    if (!handle) return NULL;
    rd_kafka_poll_set_consumer(handle);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t status = rd_kafka_subscribe(handle, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (status != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail(error, error_length, "kafka subscribe", rd_kafka_err2str(status));
        rd_kafka_destroy(handle);
        return NULL;
    }
    ckafka_consumer *consumer = calloc(1, sizeof *consumer);
    consumer->handle = handle;
    consumer->topic = strdup(topic);
    return consumer;
}

void ckafka_consumer_close(ckafka_consumer *consumer) {
    if (!consumer) return;
    if (consumer->message) rd_kafka_message_destroy(consumer->message);
    rd_kafka_consumer_close(consumer->handle);
    rd_kafka_destroy(consumer->handle);
    free(consumer->topic);
    free(consumer);
}

int ckafka_consumer_next(ckafka_consumer *consumer, int timeout_ms, int32_t *partition, int64_t *offset,
                         const void **body, size_t *length, const void **producer, size_t *producer_length,
                         char *error, size_t error_length) {
    if (consumer->message) { rd_kafka_message_destroy(consumer->message); consumer->message = NULL; }
    rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer->handle, timeout_ms);
    if (!message) return 0;
    if (message->err) {
        char detail[512];
        int fatal = message->err == RD_KAFKA_RESP_ERR__FATAL &&
                    rd_kafka_fatal_error(consumer->handle, detail, sizeof detail) != RD_KAFKA_RESP_ERR_NO_ERROR;
        snprintf(error, error_length, "kafka consume: %s", fatal ? detail : rd_kafka_message_errstr(message));
        rd_kafka_message_destroy(message);
        return fatal ? -1 : 2;
    }
    consumer->message = message;
    *partition = message->partition;
    *offset = message->offset;
    *body = message->payload;
    *length = message->len;
    *producer = NULL;
    *producer_length = 0;
    rd_kafka_headers_t *headers = NULL;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_header_get_last(headers, "producer", producer, producer_length);
    }
    return 1;
}

int ckafka_consumer_assigned(ckafka_consumer *consumer) {
    rd_kafka_topic_partition_list_t *assignment = NULL;
    if (rd_kafka_assignment(consumer->handle, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
    int count = assignment->cnt;
    rd_kafka_topic_partition_list_destroy(assignment);
    return count;
}

int ckafka_consumer_commit(ckafka_consumer *consumer, const int32_t *partitions, const int64_t *offsets, size_t count,
                           char *error, size_t error_length) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)count);
    for (size_t k = 0; k < count; k++) {
        rd_kafka_topic_partition_list_add(list, consumer->topic, partitions[k])->offset = offsets[k];
    }
    rd_kafka_resp_err_t status = rd_kafka_commit(consumer->handle, list, 0);
    // A partition's own error (e.g. not its owner after a rebalance) fails the commit as a whole.
    for (int k = 0; status == RD_KAFKA_RESP_ERR_NO_ERROR && k < list->cnt; k++) status = list->elems[k].err;
    rd_kafka_topic_partition_list_destroy(list);
    return status == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : fail(error, error_length, "kafka commit", rd_kafka_err2str(status));
}

/// A message's delivery state: 1 pending, 0 delivered, or the error.
static void delivered(rd_kafka_t *handle, const rd_kafka_message_t *message, void *opaque) {
    (void)handle; (void)opaque;
    rd_kafka_resp_err_t *state = message->_private;
    *state = message->err;
}

ckafka_producer *ckafka_producer_open(const char *brokers, char *error, size_t error_length) {
    const char *settings[] = {"bootstrap.servers", brokers, "enable.idempotence", "true", "acks", "all",
                              "linger.ms", "0", "message.timeout.ms", "30000", "log_level", "3", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (configure(conf, settings, error, error_length) != 0) { rd_kafka_conf_destroy(conf); return NULL; }
    rd_kafka_conf_set_dr_msg_cb(conf, delivered);
    rd_kafka_t *handle = create(RD_KAFKA_PRODUCER, conf, error, error_length);
    if (!handle) return NULL;
    ckafka_producer *producer = calloc(1, sizeof *producer);
    producer->handle = handle;
    return producer;
}

void ckafka_producer_close(ckafka_producer *producer) {
    if (!producer) return;
    rd_kafka_flush(producer->handle, 10000);
    rd_kafka_destroy(producer->handle);
    free(producer);
}

int ckafka_produce(ckafka_producer *producer, const char *topic, const void *body, size_t length, const char *producer_name,
                   char *error, size_t error_length) {
    rd_kafka_resp_err_t state = (rd_kafka_resp_err_t)1;  // pending
    rd_kafka_headers_t *headers = rd_kafka_headers_new(1);
    if (producer_name) rd_kafka_header_add(headers, "producer", -1, producer_name, -1);
    rd_kafka_resp_err_t status = rd_kafka_producev(producer->handle, RD_KAFKA_V_TOPIC(topic),
                                                   RD_KAFKA_V_VALUE((void *)body, length), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                   RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(&state), RD_KAFKA_V_END);
    if (status != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(headers);  // owned by the message only once produced
        return fail(error, error_length, "kafka produce", rd_kafka_err2str(status));
    }
    // The delivery report arrives within message.timeout.ms, delivered or failed.
    while (state == (rd_kafka_resp_err_t)1) rd_kafka_poll(producer->handle, 50);
    return state == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : fail(error, error_length, "kafka delivery", rd_kafka_err2str(state));
}

ckafka_mock *ckafka_mock_open(int brokers, char *error, size_t error_length) {
    const char *settings[] = {"log_level", "3", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (configure(conf, settings, error, error_length) != 0) { rd_kafka_conf_destroy(conf); return NULL; }
    rd_kafka_t *handle = create(RD_KAFKA_PRODUCER, conf, error, error_length);
    if (!handle) return NULL;
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(handle, brokers);
    if (!cluster) {
        rd_kafka_destroy(handle);
        fail(error, error_length, "kafka mock cluster", "could not be created");
        return NULL;
    }
    ckafka_mock *mock = calloc(1, sizeof *mock);
    mock->handle = handle;
    mock->cluster = cluster;
    return mock;
}

const char *ckafka_mock_bootstraps(ckafka_mock *mock) { return rd_kafka_mock_cluster_bootstraps(mock->cluster); }

int ckafka_mock_create_topic(ckafka_mock *mock, const char *topic, int partitions, char *error, size_t error_length) {
    rd_kafka_resp_err_t status = rd_kafka_mock_topic_create(mock->cluster, topic, partitions, 1);
    return status == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : fail(error, error_length, "kafka mock topic", rd_kafka_err2str(status));
}

void ckafka_mock_close(ckafka_mock *mock) {
    if (!mock) return;
    rd_kafka_mock_cluster_destroy(mock->cluster);
    rd_kafka_destroy(mock->handle);
    free(mock);
}
