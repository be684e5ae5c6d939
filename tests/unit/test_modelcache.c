/*
 * test_modelcache.c - the model cache's snapshot links under concurrent writers: two
 * pulls of one file finish together and both link it (a fixed temporary name let one
 * writer's rename take the other's link away: "No such file or directory").
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/paths.h"
#include "modelcache/cache.h"

enum { THREADS = 4, ROUNDS = 300 };

typedef struct linker {
    const ta_cache *c;
    int failures;
    char last_error[256];
} linker;

static void *link_many(void *arg)
{
    linker *l = arg;
    for (int i = 0; i < ROUNDS; i++) {
        ta_error err = {0};
        if (ta_cache_link(l->c, "acme/shared", "main", "b33b0ef3beb0fb76f928e0a10025484c49635d98",
                          "sub/shared-Q4_K_M.gguf", "0123abcd", &err) != TA_OK) {
            l->failures++;
            snprintf(l->last_error, sizeof l->last_error, "%s", err.message);
        }
    }
    return NULL;
}

static void test_concurrent_links(void **state)
{
    (void)state;
    char root[] = "/tmp/ta_modelcache_XXXXXX";
    assert_non_null(mkdtemp(root));
    ta_cache c;
    ta_cache_init(&c, root);
    pthread_t t[THREADS];
    linker l[THREADS];
    for (int i = 0; i < THREADS; i++) {
        l[i] = (linker){.c = &c};
        assert_int_equal(pthread_create(&t[i], NULL, link_many, &l[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        if (l[i].failures) fprintf(stderr, "linker %d: %s\n", i, l[i].last_error);
        assert_int_equal(l[i].failures, 0);
    }
    /* The link is there and points at the blob; the ref names the commit; no
     * temporary files are left. */
    char link[4400], target[4400], cmd[4600];
    ta_cache_repo_dir(root, "acme/shared", link, sizeof link);
    strcat(link, "/snapshots/b33b0ef3beb0fb76f928e0a10025484c49635d98/sub/shared-Q4_K_M.gguf");
    ssize_t n = readlink(link, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    assert_string_equal(target, "../../../blobs/0123abcd");
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*.tmp*')\"", root);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

static void test_tmp_names(void **state)
{
    (void)state;
    ta_error err = {0};
    char a[64], b[64], small[8];
    assert_int_equal(ta_paths_tmp_name(a, sizeof a, "/x/f", &err), TA_OK);
    assert_int_equal(ta_paths_tmp_name(b, sizeof b, "/x/f", &err), TA_OK);
    assert_true(strncmp(a, "/x/f.tmp-", 9) == 0);
    assert_string_not_equal(a, b);
    assert_int_equal(ta_paths_tmp_name(small, sizeof small, "/x/f", &err), TA_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_links),
        cmocka_unit_test(test_tmp_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
