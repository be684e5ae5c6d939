/*
 * library.c - see library.h.
 */
#include "library.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

extern const char ta_library_json[]; /* generated from data/library.json (CMakeLists.txt) */

static json_t *lib;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void parse(void)
{
    lib = json_loads(ta_library_json, 0, NULL);
    if (!json_is_object(lib)) lib = json_pack("{s:i,s:[]}", "version", 1, "models");
}

const json_t *ta_library(void)
{
    pthread_once(&once, parse);
    return lib;
}

const json_t *ta_library_find(const char *name)
{
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(ta_library(), "models"), i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        if (n && name && !strcmp(n, name)) return m;
    }
    return NULL;
}

void ta_library_spec(const char *name, char *out, size_t cap)
{
    if (!name || !name[0]) name = json_string_value(json_object_get(ta_library(), "default_chat"));
    const json_t *m = ta_library_find(name);
    if (m)
        snprintf(out, cap, "%s:%s", json_string_value(json_object_get(m, "repo")),
                 json_string_value(json_object_get(m, "file")));
    else
        snprintf(out, cap, "%s", name ? name : "");
}
