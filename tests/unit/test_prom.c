/* test_prom: the Prometheus text writer (common/prom.h) and turnq's metric set (common/mstats.h):
 * escaping of label values and HELP text, the value syntax, cumulative histogram buckets ending
 * in +Inf = _count, the atomic file write, the bucket fields the worker increments, and a render
 * whose families each have HELP and TYPE and whose labels name no experiment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/unit.h"
#include "buf.h"
#include "mstats.h"
#include "prom.h"

static const char *text(struct buf *b) { return buf_head(b); }

TEST(label_values_escaped)
{
    struct buf b = {0};
    prom_escape_label(&b, "a\\b\"c\nd");
    CHECK_EQ_STR(text(&b), "a\\\\b\\\"c\\nd");
    buf_reset(&b);
    prom_escape_help(&b, "x \"q\" \\ \nend");
    CHECK_EQ_STR(text(&b), "x \"q\" \\\\ \\nend");
    buf_free(&b);
}

TEST(values)
{
    struct buf b = {0};
    prom_value(&b, 0);
    buf_puts(&b, " ");
    prom_value(&b, 42);
    buf_puts(&b, " ");
    prom_value(&b, 1.5);
    buf_puts(&b, " ");
    prom_value(&b, 1.0 / 0.0);
    buf_puts(&b, " ");
    prom_value(&b, -1.0 / 0.0);
    buf_puts(&b, " ");
    prom_value(&b, 0.0 / 0.0);
    CHECK_EQ_STR(text(&b), "0 42 1.5 +Inf -Inf NaN");
    buf_free(&b);
}

TEST(family_and_samples)
{
    struct buf b = {0};
    prom_family(&b, "turnq_x_total", "counter", "Things.\nMore");
    prom_sample(&b, "turnq_x_total", (const char *const[]){"machine", "gpu\"1", "outcome", NULL, NULL}, 3);
    prom_sample(&b, "turnq_x_total", NULL, 4);
    CHECK_EQ_STR(text(&b), "# HELP turnq_x_total Things.\\nMore\n"
                           "# TYPE turnq_x_total counter\n"
                           "turnq_x_total{machine=\"gpu\\\"1\"} 3\n"
                           "turnq_x_total 4\n");
    buf_free(&b);
}

TEST(histogram_cumulative)
{
    struct buf b = {0};
    const double bounds[] = {0.5, 1, 2.5};
    const uint64_t counts[] = {2, 0, 3, 1};
    prom_histogram(&b, "h_seconds", (const char *const[]){"machine", "m", NULL}, bounds, counts, 3, 7.25);
    CHECK_EQ_STR(text(&b), "h_seconds_bucket{machine=\"m\",le=\"0.5\"} 2\n"
                           "h_seconds_bucket{machine=\"m\",le=\"1\"} 2\n"
                           "h_seconds_bucket{machine=\"m\",le=\"2.5\"} 5\n"
                           "h_seconds_bucket{machine=\"m\",le=\"+Inf\"} 6\n"
                           "h_seconds_sum{machine=\"m\"} 7.25\n"
                           "h_seconds_count{machine=\"m\"} 6\n");
    buf_free(&b);
}

TEST(write_file_atomic)
{
    char err[ERR_LEN] = "";
    CHECK_EQ_INT(prom_write_file("t.prom", "a 1\n", 4, err), 0);
    FILE *f = fopen("t.prom", "r");
    REQUIRE(f != NULL);
    char got[16] = "";
    CHECK(fgets(got, sizeof got, f) != NULL);
    fclose(f);
    CHECK_EQ_STR(got, "a 1\n");
    char tmp[64];
    snprintf(tmp, sizeof tmp, "t.prom.tmp.%ld", (long)getpid());
    struct stat st;
    CHECK(stat(tmp, &st) < 0); /* renamed away */
    /* A directory that does not exist: an error naming the file, nothing left behind. */
    CHECK_EQ_INT(prom_write_file("nodir/t.prom", "a 1\n", 4, err), -1);
    CHECK_CONTAINS(err, "nodir/t.prom.tmp.");
}

TEST(bucket_fields)
{
    char f[64];
    mstats_bucket_field(MSTATS_H_TURN, 0.01, f);
    CHECK_EQ_STR(f, "turn_seconds:le:0.1");
    mstats_bucket_field(MSTATS_H_TURN, 2.5, f);
    CHECK_EQ_STR(f, "turn_seconds:le:2.5");
    mstats_bucket_field(MSTATS_H_TURN, 2.6, f);
    CHECK_EQ_STR(f, "turn_seconds:le:5");
    mstats_bucket_field(MSTATS_H_CALL, 1e6, f);
    CHECK_EQ_STR(f, "call_seconds:le:+Inf");
    CHECK_EQ_STR(mstats_sum_field(MSTATS_H_CALL), "call_seconds:sum");
    CHECK_EQ_STR(mstats_outcome_field("failed"), "experiments:failed");
    CHECK(mstats_outcome_field("queued") == NULL);
    CHECK_EQ_STR(mstats_stop_field("max_actions"), "turns:max_actions");
}

TEST(fields_round_trip_into_render)
{
    struct mstats_machine m;
    mstats_init(&m, "gpu1");
    char f[64];
    mstats_bucket_field(MSTATS_H_TURN, 0.3, f);
    mstats_set_field(&m, f, "4");
    mstats_set_field(&m, "turn_seconds:le:+Inf", "1");
    mstats_set_field(&m, "turn_seconds:sum", "2000.5");
    mstats_set_field(&m, "experiments:done", "5");
    mstats_set_field(&m, "experiments:failed", "x"); /* ignored */
    mstats_set_field(&m, "from_a_newer_worker", "9"); /* ignored */
    mstats_set_field(&m, "calls:ok", "12");
    m.queue_depth = 3;
    json_t *hb = json_loads("{\"slots\":2,\"busy\":1,\"version\":\"v\\\"1\",\"ollama\":{\"version\":\"0.12.6\","
                            "\"models\":[{\"name\":\"qwen3:8b\",\"digest\":\"abc\"}]}}", 0, NULL);
    REQUIRE(hb != NULL);
    mstats_set_heartbeat(&m, hb);
    struct buf b = {0};
    mstats_render(&b, &m, 1);
    const char *t = text(&b);
    CHECK_CONTAINS(t, "turnq_experiments_total{machine=\"gpu1\",outcome=\"done\"} 5\n");
    CHECK_CONTAINS(t, "turnq_experiments_total{machine=\"gpu1\",outcome=\"failed\"} 0\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_bucket{machine=\"gpu1\",le=\"0.25\"} 0\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_bucket{machine=\"gpu1\",le=\"0.5\"} 4\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_bucket{machine=\"gpu1\",le=\"3600\"} 4\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_bucket{machine=\"gpu1\",le=\"+Inf\"} 5\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_count{machine=\"gpu1\"} 5\n");
    CHECK_CONTAINS(t, "turnq_turn_duration_seconds_sum{machine=\"gpu1\"} 2000.5\n");
    CHECK_CONTAINS(t, "turnq_chat_requests_total{machine=\"gpu1\",outcome=\"ok\"} 12\n");
    CHECK_CONTAINS(t, "turnq_queue_depth{machine=\"gpu1\"} 3\n");
    CHECK_NOT_CONTAINS(t, "turnq_running_depth{"); /* unknown: no sample */
    CHECK_CONTAINS(t, "turnq_worker_up{machine=\"gpu1\"} 1\n");
    CHECK_CONTAINS(t, "turnq_worker_busy_slots{machine=\"gpu1\"} 1\n");
    CHECK_CONTAINS(t, "turnq_build_info{machine=\"gpu1\",version=\"v\\\"1\",ollama_version=\"0.12.6\"} 1\n");
    CHECK_CONTAINS(t, "turnq_model_info{machine=\"gpu1\",model=\"qwen3:8b\",digest=\"abc\"} 1\n");
    CHECK_NOT_CONTAINS(t, "id=");
    CHECK(b.len > 0 && t[b.len - 1] == '\n');
    /* Every sample's family has HELP and TYPE before it. */
    char *copy = strdup(t), *save = NULL;
    char family[128] = "";
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(line, "# TYPE ", 7)) {
            sscanf(line + 7, "%127s", family);
            continue;
        }
        if (line[0] == '#')
            continue;
        CHECK_MSG(family[0] && !strncmp(line, family, strlen(family)), "sample outside its family: %s", line);
    }
    free(copy);
    buf_free(&b);
    json_decref(hb);
}

TEST(down_machine_has_no_slot_gauges)
{
    struct mstats_machine m;
    mstats_init(&m, "gpu2");
    mstats_set_heartbeat(&m, NULL);
    struct buf b = {0};
    mstats_render(&b, &m, 1);
    CHECK_CONTAINS(text(&b), "turnq_worker_up{machine=\"gpu2\"} 0\n");
    CHECK_NOT_CONTAINS(text(&b), "turnq_worker_slots{");
    CHECK_NOT_CONTAINS(text(&b), "turnq_build_info{");
    buf_free(&b);
}

UNIT_MAIN()
