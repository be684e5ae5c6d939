/*
 * test_native_process.c - the tabagent-server binary as a browser starts it: spawned
 * with Chromium's launch arguments, driven through pipes. Checks that stdout carries
 * nothing but well-formed frames, that bad input gets error replies without killing
 * the host, and that EOF on stdin ends it with status 0.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

typedef struct host {
    pid_t pid;
    int in, out; /* our ends: write requests to in, read replies from out */
} host;

static char data_dir[] = "/tmp/ta_nproc_XXXXXX";

static host spawn(const char *mode_env, const char *const *extra_args)
{
    int to[2], from[2];
    assert_int_equal(pipe(to), 0);
    assert_int_equal(pipe(from), 0);
    host h;
    h.pid = fork();
    assert_true(h.pid >= 0);
    if (h.pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[1]);
        close(from[0]);
        setenv("XDG_DATA_HOME", data_dir, 1);
        setenv("TABAGENT_LOG_LEVEL", "debug", 1);
        if (mode_env) setenv("TABAGENT_MODE", mode_env, 1);
        /* An occupied-or-not port does not matter in native mode; keep "all" off 3000. */
        setenv("TABAGENT_PORT", "0", 1);
        const char *argv[8] = {TA_SERVER_BIN};
        int n = 1;
        for (; extra_args && extra_args[n - 1] && n < 7; n++)
            argv[n] = extra_args[n - 1];
        argv[n] = NULL;
        execv(TA_SERVER_BIN, (char **)argv);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    h.in = to[1];
    h.out = from[0];
    return h;
}

static void send_frame(host *h, const void *data, uint32_t n)
{
    assert_int_equal(write(h->in, &n, 4), 4);
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(h->in, (const char *)data + done, n - done);
        assert_true(w > 0);
        done += (size_t)w;
    }
}

static void send_json(host *h, const char *s)
{
    send_frame(h, s, (uint32_t)strlen(s));
}

static int read_full(int fd, void *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)p + got, n - got);
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Reads one frame; every byte on stdout must belong to a valid JSON frame. */
static json_t *recv_json(host *h)
{
    uint32_t n;
    assert_int_equal(read_full(h->out, &n, 4), 0);
    assert_true(n > 0 && n <= (1u << 20));
    char *buf = malloc(n);
    assert_int_equal(read_full(h->out, buf, n), 0);
    json_error_t jerr;
    json_t *v = json_loadb(buf, n, 0, &jerr);
    if (!v) fail_msg("host wrote a non-JSON frame: %.*s", (int)(n < 200 ? n : 200), buf);
    free(buf);
    return v;
}

static int finish(host *h)
{
    close(h->in); /* EOF, as when the browser disconnects */
    char extra;
    ssize_t r = read(h->out, &extra, 1);
    assert_int_equal(r, 0); /* nothing after the last reply: stdout is frames only */
    close(h->out);
    int status = 0;
    assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_launched_like_chromium(void **state)
{
    (void)state;
    const char *args[] = {"chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
                          "--parent-window=0", NULL};
    host h = spawn(NULL, args); /* default mode "all", as a browser would start it */
    send_json(&h, "{\"action\":\"ping\",\"messageId\":\"msg_1_1700000000000\"}");
    json_t *r = recv_json(&h);
    const char *id = json_string_value(json_object_get(r, "messageId"));
    assert_non_null(id);
    assert_string_equal(id, "msg_1_1700000000000");
    assert_string_equal(json_string_value(json_object_get(r, "status")), "success");
    assert_string_equal(json_string_value(json_object_get(r, "response")), "pong");
    assert_int_equal(json_integer_value(json_object_get(r, "pid")), h.pid);
    json_decref(r);
    send_json(&h, "{\"action\":\"get_system_info\",\"messageId\":\"2\"}");
    r = recv_json(&h);
    assert_true(json_integer_value(json_object_get(r, "cores")) >= 1);
    json_decref(r);
    assert_int_equal(finish(&h), 0);
}

static void test_bad_input_keeps_host_alive(void **state)
{
    (void)state;
    host h = spawn("native", NULL);
    uint32_t zero = 0;
    assert_int_equal(write(h.in, &zero, 4), 4);
    json_t *r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "error");
    json_decref(r);

    send_frame(&h, "{\"action\":\"ping\",\"messageId\":\"\xc3\x28\"}", 34); /* bad UTF-8 */
    r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "error");
    json_decref(r);

    send_json(&h, "{\"action\":\"ping\",\"messageId\":\"t\",\"count\":true}");
    r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "messageId")), "t");
    assert_string_equal(json_string_value(json_object_get(r, "message")),
                        "count: expected integer, got boolean");
    json_decref(r);

    /* Over 64 MiB: skipped with an error, and the next message is served. */
    uint32_t big = (64u << 20) + 1;
    char *junk = calloc(1, big);
    send_frame(&h, junk, big);
    free(junk);
    r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "code")), "too_large");
    json_decref(r);

    send_json(&h, "{\"route\":\"ping\",\"request_id\":\"old-1\",\"payload\":null}");
    r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "request_id")), "old-1");
    assert_true(json_is_true(json_object_get(r, "success")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "data"), "response")),
                        "pong");
    json_decref(r);
    assert_int_equal(finish(&h), 0);
}

static void test_stream_then_eof_mid_request(void **state)
{
    (void)state;
    host h = spawn("native", NULL);
    send_json(&h, "{\"action\":\"ping\",\"messageId\":\"s\",\"count\":2,\"stream\":true}");
    for (int i = 0; i < 2; i++) {
        json_t *ev = recv_json(&h);
        assert_string_equal(json_string_value(json_object_get(ev, "type")), "pong");
        json_decref(ev);
    }
    json_t *r = recv_json(&h);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "success");
    json_decref(r);
    /* A long stream still running when the browser goes away: the host cancels it
     * and exits cleanly. */
    send_json(&h, "{\"action\":\"ping\",\"messageId\":\"long\",\"count\":10000,\"interval_ms\":"
                  "100,\"stream\":true}");
    json_t *ev = recv_json(&h);
    json_decref(ev);
    close(h.in);
    int status = 0;
    alarm(20);
    assert_int_equal(waitpid(h.pid, &status, 0), h.pid);
    alarm(0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(h.out);
}

/* The extension's generate through the pipe: generationUpdate events whose tokens add
 * up to the final text, generationComplete, then the reply with its stats; every frame
 * valid JSON under the size limit (recv_json checks). Then stop_generation ends a long
 * generation early, and get_model_state reports the loaded model. */
static void test_generate_stream(void **state)
{
    (void)state;
    const char *args[] = {"--model", "stories=" TA_SOURCE_DIR "/../shared/models/stories260K.gguf",
                          "--parallel", "2", NULL};
    host h = spawn("native", args);
    send_json(&h, "{\"action\":\"generate\",\"messageId\":\"g1\",\"stream\":true,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"Once upon a time\"}],"
                  "\"settings\":{\"max_new_tokens\":20,\"do_sample\":false}}");
    char text[4096] = "";
    int updates = 0, last_n = 0;
    json_t *done = NULL, *reply = NULL;
    while (!reply) {
        json_t *m = recv_json(&h);
        assert_string_equal(json_string_value(json_object_get(m, "messageId")), "g1");
        const char *type = json_string_value(json_object_get(m, "type"));
        json_t *pl = json_object_get(m, "payload");
        if (type && !strcmp(type, "generationUpdate")) {
            updates++;
            strncat(text, json_string_value(json_object_get(pl, "token")),
                    sizeof text - strlen(text) - 1);
            int n = (int)json_integer_value(json_object_get(pl, "numTokens"));
            assert_true(n > last_n);
            last_n = n;
            assert_true(json_number_value(json_object_get(pl, "tps")) >= 0);
            json_decref(m);
        } else if (type && !strcmp(type, "generationComplete")) {
            done = m;
        } else {
            assert_null(type);
            reply = m;
        }
    }
    assert_true(updates > 3);
    assert_non_null(done);
    assert_string_equal(json_string_value(json_object_get(reply, "status")), "success");
    const char *final = json_string_value(json_object_get(reply, "text"));
    assert_string_equal(final, text);
    json_t *stats = json_object_get(reply, "stats");
    assert_int_equal(json_integer_value(json_object_get(stats, "output_tokens")), 20);
    assert_true(json_integer_value(json_object_get(stats, "input_tokens")) > 3);
    assert_true(json_number_value(json_object_get(stats, "tokens_per_second")) > 0);
    assert_true(json_number_value(json_object_get(stats, "total_time")) > 0);
    json_decref(done);
    json_decref(reply);

    /* stop_generation: a generation of up to 1900 tokens ends at once */
    send_json(&h, "{\"action\":\"generate\",\"messageId\":\"g2\",\"stream\":true,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"A long one\"}],"
                  "\"settings\":{\"max_new_tokens\":1900}}");
    json_t *m = recv_json(&h); /* the first update: it is running */
    json_decref(m);
    send_json(&h, "{\"action\":\"stop_generation\",\"messageId\":\"s\"}");
    int out_tokens = -1;
    bool stop_ok = false;
    while (out_tokens < 0 || !stop_ok) {
        m = recv_json(&h);
        const char *id = json_string_value(json_object_get(m, "messageId"));
        if (!strcmp(id, "s")) stop_ok = true;
        if (!strcmp(id, "g2") && !json_object_get(m, "type"))
            out_tokens = (int)json_integer_value(
                json_object_get(json_object_get(m, "stats"), "output_tokens"));
        json_decref(m);
    }
    assert_true(out_tokens < 1900);

    send_json(&h, "{\"action\":\"get_model_state\",\"messageId\":\"st\"}");
    m = recv_json(&h);
    assert_true(json_is_true(json_object_get(m, "isReady")));
    assert_non_null(strstr(json_string_value(json_object_get(m, "modelPath")), "stories260K"));
    json_decref(m);
    assert_int_equal(finish(&h), 0);
}

/* The memory through the pipe, the same actions as over HTTP: a chat, messages with
 * embeddings and an entity, hybrid search, a page, the weaver, stats; a bad request
 * gets an error reply naming the field. */
static void test_memory_actions(void **state)
{
    (void)state;
    char db[64];
    snprintf(db, sizeof db, "%s/nm-db", data_dir);
    const char *args[] = {"--db-path", db, NULL};
    host h = spawn("native", args);
    send_json(&h, "{\"action\":\"create_chat\",\"messageId\":\"c\",\"title\":\"pipe\"}");
    json_t *m = recv_json(&h);
    json_int_t chat = json_integer_value(json_object_get(m, "id"));
    assert_true(chat > 0);
    json_decref(m);
    char req[512];
    static const char *const texts[] = {"the red bicycle in the garden", "a red bicycle bell",
                                        "tomatoes ripen in the sun"};
    static const char *const vecs[] = {"[1,0,0]", "[0.95,0.2,0]", "[0,0,1]"};
    for (int i = 0; i < 3; i++) {
        snprintf(req, sizeof req,
                 "{\"action\":\"add_message\",\"messageId\":\"a%d\",\"chat_id\":%lld,"
                 "\"role\":\"user\",\"content\":\"%s\",\"embedding\":%s,"
                 "\"embedding_model\":\"t\",\"entities\":[\"bicycle\"]}",
                 i, (long long)chat, texts[i], vecs[i]);
        send_json(&h, req);
        m = recv_json(&h);
        assert_true(json_is_true(json_object_get(m, "indexed")));
        if (i == 1) assert_int_equal(json_integer_value(json_object_get(m, "links")), 1);
        json_decref(m);
    }
    send_json(&h, "{\"action\":\"search_memory\",\"messageId\":\"s\",\"query\":\"red "
                  "bicycle\",\"embedding\":[1,0,0],\"limit\":5}");
    m = recv_json(&h);
    json_t *data = json_object_get(m, "data");
    assert_int_equal(json_array_size(data), 3); /* two by text and vector, one by vector */
    assert_int_equal(json_integer_value(json_object_get(json_array_get(data, 0), "id")), 1);
    assert_non_null(json_object_get(json_object_get(json_array_get(data, 0), "explain"), "text"));
    json_decref(m);
    send_json(&h, "{\"action\":\"add_page\",\"messageId\":\"p\",\"url\":\"https://a.example\","
                  "\"text\":\"bicycle repair guide\"}");
    m = recv_json(&h);
    assert_true(json_is_false(json_object_get(m, "duplicate")));
    json_decref(m);
    send_json(&h, "{\"action\":\"weave_memory\",\"messageId\":\"w\",\"dry_run\":true}");
    m = recv_json(&h);
    assert_int_equal(json_integer_value(json_object_get(m, "links")), 1);
    json_decref(m);
    send_json(&h, "{\"action\":\"memory_stats\",\"messageId\":\"st\",\"check\":true}");
    m = recv_json(&h);
    assert_int_equal(json_integer_value(json_object_get(m, "messages")), 3);
    assert_int_equal(json_integer_value(json_object_get(m, "pages")), 1);
    assert_string_equal(json_string_value(json_object_get(m, "integrity")), "ok");
    json_decref(m);
    send_json(&h, "{\"action\":\"add_summary\",\"messageId\":\"bad\",\"kind\":\"hourly\","
                  "\"text\":\"x\",\"start_ms\":0,\"end_ms\":1}");
    m = recv_json(&h);
    char *dumped = json_dumps(m, JSON_COMPACT);
    assert_non_null(strstr(dumped, "kind"));
    free(dumped);
    json_decref(m);
    assert_int_equal(finish(&h), 0);
}

int main(void)
{
    assert_non_null(mkdtemp(data_dir));
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launched_like_chromium),
        cmocka_unit_test(test_bad_input_keeps_host_alive),
        cmocka_unit_test(test_stream_then_eof_mid_request),
        cmocka_unit_test(test_generate_stream),
        cmocka_unit_test(test_memory_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
