/*
 * test_manifest.c - the native-messaging host manifest installer and its subcommands.
 *
 * Every test runs with $HOME pointing at a fresh temporary directory, so per-user
 * installs land there and nothing outside it is touched. System-wide paths are only
 * computed, never written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "server/install_cmd.h"
#include "transport/native/manifest.h"

#define CHROME_ID  "abcdefghijklmnopabcdefghijklmnop"
#define CHROME_ID2 "ponmlkjihgfedcbaponmlkjihgfedcba"
#define GECKO_ID   "tabagent@example.org"
#define GECKO_UUID "{0a1b2c3d-4e5f-6789-abcd-ef0123456789}"
#define HOST_PATH  "/opt/tabagent/bin/tabagent-server"

static char g_root[PATH_MAX]; /* the test's temporary directory, also $HOME */
static char *g_saved_home;    /* $HOME before the suite, restored after */

/* ---- helpers ---------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    int n = snprintf(g_root, sizeof g_root, "%s/ta_manifest_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_true(n > 0 && (size_t)n < sizeof g_root);
    assert_non_null(mkdtemp(g_root));
    assert_int_equal(setenv("HOME", g_root, 1), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(g_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int suite_setup(void **state)
{
    (void)state;
    const char *home = getenv("HOME");
    g_saved_home = home ? strdup(home) : NULL;
    return 0;
}

static int suite_teardown(void **state)
{
    (void)state;
    if (g_saved_home) {
        setenv("HOME", g_saved_home, 1);
        free(g_saved_home);
    } else {
        unsetenv("HOME");
    }
    return 0;
}

/* g_root + "/" + rel into out. */
static void under_root(char *out, size_t cap, const char *rel)
{
    int n = snprintf(out, cap, "%s/%s", g_root, rel);
    assert_true(n > 0 && (size_t)n < cap);
}

/* The whole file as a NUL-terminated string; the caller frees it. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    assert_true(n < 65535);
    fclose(f);
    return buf;
}

static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
    assert_true(json_is_object(root));
    return root;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* Checks every field of a manifest parsed from disk. */
static void check_manifest(json_t *m, bool firefox, const char *host_path, const char *id)
{
    assert_int_equal(json_object_size(m), 5);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "com.tabagent.host");
    assert_string_equal(json_string_value(json_object_get(m, "description")),
                        "TabAgent local AI server");
    assert_string_equal(json_string_value(json_object_get(m, "path")), host_path);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "stdio");

    json_t *list = json_object_get(m, firefox ? "allowed_extensions" : "allowed_origins");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), 1);
    if (firefox) {
        assert_string_equal(json_string_value(json_array_get(list, 0)), id);
        assert_null(json_object_get(m, "allowed_origins"));
    } else {
        char origin[128];
        snprintf(origin, sizeof origin, "chrome-extension://%s/", id);
        assert_string_equal(json_string_value(json_array_get(list, 0)), origin);
        assert_null(json_object_get(m, "allowed_extensions"));
    }
}

/* Runs a command with stdout captured into out (NUL-terminated); returns its status. */
static int run_captured(int (*cmd)(int, char **), int argc, char **argv, char *out, size_t cap)
{
    char path[PATH_MAX];
    under_root(path, sizeof path, "stdout.txt");
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_true(dup2(fd, STDOUT_FILENO) >= 0);
    close(fd);

    int rc = cmd(argc, argv);

    fflush(stdout);
    assert_true(dup2(saved, STDOUT_FILENO) >= 0);
    close(saved);
    char *text = slurp(path);
    snprintf(out, cap, "%s", text);
    free(text);
    unlink(path);
    return rc;
}

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])) - 1) /* arrays end with NULL */

/* ---- paths ------------------------------------------------------------------------ */

static void test_browser_names(void **state)
{
    (void)state;
    static const char *names[] = {"chrome", "chromium", "edge", "brave", "firefox"};
    for (int i = 0; i < 5; i++) {
        ta_native_manifest_browser b = TA_NATIVE_MANIFEST_BROWSER_COUNT;
        ta_error err = {0};
        assert_int_equal(ta_native_manifest_browser_parse(names[i], &b, &err), TA_OK);
        assert_int_equal(b, i);
        assert_string_equal(ta_native_manifest_browser_name(b), names[i]);
    }
    assert_true(ta_native_manifest_is_firefox(TA_NATIVE_MANIFEST_FIREFOX));
    assert_false(ta_native_manifest_is_firefox(TA_NATIVE_MANIFEST_BRAVE));

    ta_native_manifest_browser b = TA_NATIVE_MANIFEST_CHROME;
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_browser_parse("safari", &b, &err), TA_EINVAL);
    assert_int_equal(err.code, TA_EINVAL);
    assert_non_null(strstr(err.message, "safari"));
    assert_non_null(strstr(err.message, "chromium"));
    assert_int_equal(ta_native_manifest_browser_parse("Chrome", &b, &err), TA_EINVAL);
    assert_int_equal(ta_native_manifest_browser_parse("", &b, &err), TA_EINVAL);
    assert_string_equal(ta_native_manifest_browser_name((ta_native_manifest_browser)99), "unknown");
}

static void test_user_dirs(void **state)
{
    (void)state;
    static const char *rel[] = {
        ".config/google-chrome/NativeMessagingHosts",
        ".config/chromium/NativeMessagingHosts",
        ".config/microsoft-edge/NativeMessagingHosts",
        ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
        ".mozilla/native-messaging-hosts",
    };
    for (int i = 0; i < TA_NATIVE_MANIFEST_BROWSER_COUNT; i++) {
        char want[PATH_MAX], got[PATH_MAX];
        under_root(want, sizeof want, rel[i]);
        ta_error err = {0};
        assert_int_equal(ta_native_manifest_dir((ta_native_manifest_browser)i,
                                                TA_NATIVE_MANIFEST_USER, got, sizeof got, &err),
                         TA_OK);
        assert_string_equal(got, want);
    }

    /* A buffer that is too small is an error, never a truncated path. */
    char tiny[8];
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_dir(TA_NATIVE_MANIFEST_CHROME, TA_NATIVE_MANIFEST_USER,
                                            tiny, sizeof tiny, &err),
                     TA_EINVAL);
    char buf[PATH_MAX];
    assert_int_equal(ta_native_manifest_dir((ta_native_manifest_browser)7, TA_NATIVE_MANIFEST_USER,
                                            buf, sizeof buf, &err),
                     TA_EINVAL);
    assert_int_equal(ta_native_manifest_dir(TA_NATIVE_MANIFEST_CHROME, (ta_native_manifest_scope)5,
                                            buf, sizeof buf, &err),
                     TA_EINVAL);
}

static void test_system_dirs(void **state)
{
    (void)state;
    static const char *want[] = {
        "/etc/opt/chrome/native-messaging-hosts",
        "/etc/chromium/native-messaging-hosts",
        "/etc/opt/edge/native-messaging-hosts",
        "/etc/opt/brave.com/brave/native-messaging-hosts",
        "/usr/lib/mozilla/native-messaging-hosts",
    };
    for (int i = 0; i < TA_NATIVE_MANIFEST_BROWSER_COUNT; i++) {
        char got[PATH_MAX];
        ta_error err = {0};
        assert_int_equal(ta_native_manifest_dir((ta_native_manifest_browser)i,
                                                TA_NATIVE_MANIFEST_SYSTEM, got, sizeof got, &err),
                         TA_OK);
        assert_string_equal(got, want[i]);
    }
}

static void test_other_platforms(void **state)
{
    (void)state;
    char buf[PATH_MAX];
    ta_error err = {0};

    assert_int_equal(ta_native_manifest_macos_path(TA_NATIVE_MANIFEST_CHROME,
                                                   TA_NATIVE_MANIFEST_USER, buf, sizeof buf, &err),
                     TA_OK);
    assert_string_equal(
        buf,
        "~/Library/Application Support/Google/Chrome/NativeMessagingHosts/com.tabagent.host.json");
    assert_int_equal(ta_native_manifest_macos_path(TA_NATIVE_MANIFEST_CHROME,
                                                   TA_NATIVE_MANIFEST_SYSTEM, buf, sizeof buf,
                                                   &err),
                     TA_OK);
    assert_string_equal(buf, "/Library/Google/Chrome/NativeMessagingHosts/com.tabagent.host.json");
    assert_int_equal(ta_native_manifest_macos_path(TA_NATIVE_MANIFEST_FIREFOX,
                                                   TA_NATIVE_MANIFEST_SYSTEM, buf, sizeof buf,
                                                   &err),
                     TA_OK);
    assert_string_equal(
        buf, "/Library/Application Support/Mozilla/NativeMessagingHosts/com.tabagent.host.json");

    assert_int_equal(ta_native_manifest_windows_key(TA_NATIVE_MANIFEST_CHROME,
                                                    TA_NATIVE_MANIFEST_USER, buf, sizeof buf, &err),
                     TA_OK);
    assert_string_equal(buf,
                        "HKCU\\Software\\Google\\Chrome\\NativeMessagingHosts\\com.tabagent.host");
    assert_int_equal(ta_native_manifest_windows_key(
                         TA_NATIVE_MANIFEST_EDGE, TA_NATIVE_MANIFEST_SYSTEM, buf, sizeof buf, &err),
                     TA_OK);
    assert_string_equal(buf,
                        "HKLM\\Software\\Microsoft\\Edge\\NativeMessagingHosts\\com.tabagent.host");
    assert_int_equal(ta_native_manifest_windows_key(TA_NATIVE_MANIFEST_FIREFOX,
                                                    TA_NATIVE_MANIFEST_USER, buf, sizeof buf, &err),
                     TA_OK);
    assert_string_equal(buf, "HKCU\\Software\\Mozilla\\NativeMessagingHosts\\com.tabagent.host");

    char tiny[10];
    assert_int_equal(ta_native_manifest_windows_key(TA_NATIVE_MANIFEST_CHROME,
                                                    TA_NATIVE_MANIFEST_USER, tiny, sizeof tiny,
                                                    &err),
                     TA_EINVAL);
}

/* ---- extension ids ---------------------------------------------------------------- */

static void test_chromium_ids(void **state)
{
    (void)state;
    ta_error err = {0};
    static const char *good[] = {CHROME_ID, CHROME_ID2, "pppppppppppppppppppppppppppppppp"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_CHROME, good[i], &err),
                         TA_OK);
        assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_EDGE, good[i], &err),
                         TA_OK);
    }
    static const char *bad[] = {
        "abcdefghijklmnopabcdefghijklmno",   /* 31 */
        "abcdefghijklmnopabcdefghijklmnopa", /* 33 */
        "abcdefghijklmnopabcdefghijklmnoq",  /* q is past p */
        "ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP",  /* upper case */
        "abcdefghijklmnop abcdefghijklmno",  /* space */
        "chrome-extension://abcdefghijklmnopabcdefghijklmnop/",
        GECKO_ID,
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ta_error_clear(&err);
        assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_CHROME, bad[i], &err),
                         TA_EINVAL);
        assert_int_equal(err.code, TA_EINVAL);
        assert_true(err.message[0] != '\0');
    }
    /* The message names the expected format. */
    ta_native_manifest_check_id(TA_NATIVE_MANIFEST_BRAVE, "nope", &err);
    assert_non_null(strstr(err.message, "32"));
    assert_non_null(strstr(err.message, "a-p"));
    assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_CHROME, NULL, &err), TA_EINVAL);
}

static void test_firefox_ids(void **state)
{
    (void)state;
    ta_error err = {0};
    static const char *good[] = {
        GECKO_ID,
        GECKO_UUID,
        "{0A1B2C3D-4E5F-6789-ABCD-EF0123456789}",
        "tab-agent_1.x@mail.example.co.uk",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ta_error_clear(&err);
        assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_FIREFOX, good[i], &err),
                         TA_OK);
    }

    char long_id[300];
    memset(long_id, 'a', sizeof long_id);
    memcpy(long_id + 250, "@b.org", 7); /* 256 bytes */
    char max_id[300];
    memset(max_id, 'a', sizeof max_id);
    memcpy(max_id + 249, "@b.org", 7); /* 255 bytes: still fine */
    assert_int_equal(strlen(max_id), 255);
    assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_FIREFOX, max_id, &err), TA_OK);

    const char *bad[] = {
        "tabagent",                                /* no @ */
        "tabagent@",                               /* no domain */
        "@example.org",                            /* no name */
        "tab agent@example.org",                   /* space */
        "tab\"agent@example.org",                  /* quote */
        "tab/agent@example.org",                   /* slash */
        "a@b@c",                                   /* two @ */
        "{0a1b2c3d-4e5f-6789-abcd-ef0123456789",   /* no closing brace */
        "{0a1b2c3d-4e5f-6789-abcd-ef012345678g}",  /* not hex */
        "{0a1b2c3d4e5f-6789-abcd-ef0123456789xx}", /* wrong shape */
        "0a1b2c3d-4e5f-6789-abcd-ef0123456789",    /* no braces */
        "tab\tagent@example.org",                  /* control character */
        CHROME_ID,
        "",
        long_id,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ta_error_clear(&err);
        assert_int_equal(ta_native_manifest_check_id(TA_NATIVE_MANIFEST_FIREFOX, bad[i], &err),
                         TA_EINVAL);
        assert_int_equal(err.code, TA_EINVAL);
    }
    ta_native_manifest_check_id(TA_NATIVE_MANIFEST_FIREFOX, "nope", &err);
    assert_non_null(strstr(err.message, "name@domain"));
    assert_non_null(strstr(err.message, "{uuid}"));
}

/* ---- building and installing ------------------------------------------------------ */

static void test_build(void **state)
{
    (void)state;
    json_t *m = NULL;
    ta_error err = {0};
    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_CHROMIUM, HOST_PATH, CHROME_ID, &m, &err),
        TA_OK);
    check_manifest(m, false, HOST_PATH, CHROME_ID);
    json_decref(m);

    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_FIREFOX, HOST_PATH, GECKO_UUID, &m, &err),
        TA_OK);
    check_manifest(m, true, HOST_PATH, GECKO_UUID);
    json_decref(m);

    /* The path must be absolute and clean; the id must match the browser. */
    m = (json_t *)1;
    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_CHROME, "bin/tabagent", CHROME_ID, &m, &err),
        TA_EINVAL);
    assert_null(m);
    assert_non_null(strstr(err.message, "absolute"));
    assert_int_equal(ta_native_manifest_build(TA_NATIVE_MANIFEST_CHROME, NULL, CHROME_ID, &m, &err),
                     TA_EINVAL);
    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_CHROME, "/bin/a\nb", CHROME_ID, &m, &err),
        TA_EINVAL);
    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_CHROME, "/bin/\xff\xfe", CHROME_ID, &m, &err),
        TA_EINVAL);
    assert_int_equal(
        ta_native_manifest_build(TA_NATIVE_MANIFEST_FIREFOX, HOST_PATH, CHROME_ID, &m, &err),
        TA_EINVAL);
    assert_null(m);
}

static void test_install_chrome_user(void **state)
{
    (void)state;
    ta_native_manifest_target t = {
        .browser = TA_NATIVE_MANIFEST_CHROME,
        .scope = TA_NATIVE_MANIFEST_USER,
        .host_path = HOST_PATH,
        .extension_id = CHROME_ID,
    };
    char written[PATH_MAX], want[PATH_MAX];
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_install(&t, written, sizeof written, &err), TA_OK);
    under_root(want, sizeof want,
               ".config/google-chrome/NativeMessagingHosts/com.tabagent.host.json");
    assert_string_equal(written, want);

    struct stat st;
    assert_int_equal(stat(written, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0644);

    json_t *m = load_json(written);
    check_manifest(m, false, HOST_PATH, CHROME_ID);
    json_decref(m);

    /* Pretty-printed, with a final newline, and no temporary file left behind. */
    char *text = slurp(written);
    assert_non_null(strstr(text, "\n  \"name\": \"com.tabagent.host\""));
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
    char dir[PATH_MAX];
    under_root(dir, sizeof dir, ".config/google-chrome/NativeMessagingHosts");
    assert_int_equal(count_entries(dir), 1);
}

static void test_install_every_browser(void **state)
{
    (void)state;
    for (int i = 0; i < TA_NATIVE_MANIFEST_BROWSER_COUNT; i++) {
        ta_native_manifest_browser b = (ta_native_manifest_browser)i;
        bool ff = ta_native_manifest_is_firefox(b);
        ta_native_manifest_target t = {
            .browser = b,
            .scope = TA_NATIVE_MANIFEST_USER,
            .host_path = HOST_PATH,
            .extension_id = ff ? GECKO_ID : CHROME_ID,
        };
        char written[PATH_MAX], dir[PATH_MAX], want[PATH_MAX + 32];
        ta_error err = {0};
        assert_int_equal(ta_native_manifest_install(&t, written, sizeof written, &err), TA_OK);
        assert_int_equal(ta_native_manifest_dir(b, TA_NATIVE_MANIFEST_USER, dir, sizeof dir, &err),
                         TA_OK);
        snprintf(want, sizeof want, "%s/com.tabagent.host.json", dir);
        assert_string_equal(written, want);
        json_t *m = load_json(written);
        check_manifest(m, ff, HOST_PATH, ff ? GECKO_ID : CHROME_ID);
        json_decref(m);
    }
}

static void test_install_firefox_custom_dir(void **state)
{
    (void)state;
    char dir[PATH_MAX], want[PATH_MAX], written[PATH_MAX];
    under_root(dir, sizeof dir, "custom/deeper/hosts");
    under_root(want, sizeof want, "custom/deeper/hosts/com.tabagent.host.json");
    ta_native_manifest_target t = {
        .browser = TA_NATIVE_MANIFEST_FIREFOX,
        .scope = TA_NATIVE_MANIFEST_SYSTEM, /* the override wins over the scope */
        .dir = dir,
        .host_path = HOST_PATH,
        .extension_id = GECKO_UUID,
    };
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_install(&t, written, sizeof written, &err), TA_OK);
    assert_string_equal(written, want);

    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    json_t *m = load_json(written);
    check_manifest(m, true, HOST_PATH, GECKO_UUID);
    json_decref(m);
}

static void test_install_rejects_bad_input(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    under_root(dir, sizeof dir, "rejected");
    ta_native_manifest_target t = {
        .browser = TA_NATIVE_MANIFEST_CHROME,
        .scope = TA_NATIVE_MANIFEST_USER,
        .dir = dir,
        .host_path = HOST_PATH,
        .extension_id = "not-an-id",
    };
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_install(&t, NULL, 0, &err), TA_EINVAL);
    assert_non_null(strstr(err.message, "a-p"));
    t.extension_id = CHROME_ID;
    t.host_path = "tabagent-server";
    assert_int_equal(ta_native_manifest_install(&t, NULL, 0, &err), TA_EINVAL);
    /* Nothing was created for a rejected install. */
    assert_false(file_exists(dir));

    /* A directory that cannot be created is an I/O error naming the path. */
    char file[PATH_MAX], below[PATH_MAX];
    under_root(file, sizeof file, "plain-file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    under_root(below, sizeof below, "plain-file/hosts");
    t.host_path = HOST_PATH;
    t.dir = below;
    assert_int_equal(ta_native_manifest_install(&t, NULL, 0, &err), TA_EIO);
    assert_non_null(strstr(err.message, "plain-file"));

    /* Too small an output buffer is reported, not truncated. */
    char tiny[8];
    t.dir = dir;
    assert_int_equal(ta_native_manifest_install(&t, tiny, sizeof tiny, &err), TA_EINVAL);
}

static void test_atomic_overwrite(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], other[PATH_MAX];
    under_root(dir, sizeof dir, "hosts");
    under_root(path, sizeof path, "hosts/com.tabagent.host.json");
    under_root(other, sizeof other, "old-link");
    assert_int_equal(mkdir(dir, 0755), 0);

    /* An old manifest, also reachable through a hard link: a rename-based replace gives
     * the name a new inode and leaves the old contents under the other link, whereas
     * rewriting in place would change both. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"stale\": true}", f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(link(path, other), 0);
    struct stat before;
    assert_int_equal(stat(path, &before), 0);

    ta_native_manifest_target t = {
        .browser = TA_NATIVE_MANIFEST_EDGE,
        .scope = TA_NATIVE_MANIFEST_USER,
        .dir = dir,
        .host_path = HOST_PATH,
        .extension_id = CHROME_ID2,
    };
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_install(&t, NULL, 0, &err), TA_OK);

    struct stat after;
    assert_int_equal(stat(path, &after), 0);
    assert_true(after.st_ino != before.st_ino);
    assert_int_equal(after.st_mode & 07777, 0644);
    json_t *m = load_json(path);
    check_manifest(m, false, HOST_PATH, CHROME_ID2);
    json_decref(m);
    char *old = slurp(other);
    assert_string_equal(old, "{\"stale\": true}");
    free(old);
    assert_int_equal(count_entries(dir), 1);

    /* Installing again over our own manifest works the same way. */
    t.extension_id = CHROME_ID;
    assert_int_equal(ta_native_manifest_install(&t, NULL, 0, &err), TA_OK);
    m = load_json(path);
    check_manifest(m, false, HOST_PATH, CHROME_ID);
    json_decref(m);
    assert_int_equal(count_entries(dir), 1);
}

static void test_uninstall(void **state)
{
    (void)state;
    ta_native_manifest_target t = {
        .browser = TA_NATIVE_MANIFEST_BRAVE,
        .scope = TA_NATIVE_MANIFEST_USER,
        .host_path = HOST_PATH,
        .extension_id = CHROME_ID,
    };
    char written[PATH_MAX], removed[PATH_MAX];
    ta_error err = {0};
    assert_int_equal(ta_native_manifest_install(&t, written, sizeof written, &err), TA_OK);
    assert_true(file_exists(written));

    bool was = false;
    assert_int_equal(ta_native_manifest_uninstall(&t, removed, sizeof removed, &was, &err), TA_OK);
    assert_true(was);
    assert_string_equal(removed, written);
    assert_false(file_exists(written));

    /* Again: nothing there, still success, and the flag says so. */
    was = true;
    assert_int_equal(ta_native_manifest_uninstall(&t, removed, sizeof removed, &was, &err), TA_OK);
    assert_false(was);
    assert_string_equal(removed, written);

    /* A browser whose directory never existed, and a parent that is a plain file. */
    t.browser = TA_NATIVE_MANIFEST_FIREFOX;
    was = true;
    assert_int_equal(ta_native_manifest_uninstall(&t, NULL, 0, &was, &err), TA_OK);
    assert_false(was);
    char file[PATH_MAX];
    under_root(file, sizeof file, "plain-file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    t.dir = file;
    assert_int_equal(ta_native_manifest_uninstall(&t, NULL, 0, NULL, &err), TA_OK);

    /* Something that is not a file where the manifest should be is an error. */
    char dir[PATH_MAX], odd[PATH_MAX];
    under_root(dir, sizeof dir, "odd");
    under_root(odd, sizeof odd, "odd/com.tabagent.host.json");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(odd, 0755), 0);
    t.dir = dir;
    assert_int_equal(ta_native_manifest_uninstall(&t, NULL, 0, &was, &err), TA_EIO);
    assert_false(was);
}

/* ---- the subcommands -------------------------------------------------------------- */

static void test_cmd_install(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], self[PATH_MAX], out[8192];
    under_root(dir, sizeof dir, "cmd-hosts");
    under_root(path, sizeof path, "cmd-hosts/com.tabagent.host.json");
    assert_non_null(realpath("/proc/self/exe", self));

    char *argv[] = {
        "install-native-host", "--extension-id", CHROME_ID, "--manifest-dir", dir, NULL};
    char *copy[sizeof argv / sizeof argv[0]];
    memcpy(copy, argv, sizeof argv);
    assert_int_equal(run_captured(ta_cmd_install_native_host, ARGC(argv), argv, out, sizeof out),
                     TA_CMD_EXIT_OK);
    assert_memory_equal(argv, copy, sizeof argv); /* the caller's argv is untouched */

    json_t *m = load_json(path);
    check_manifest(m, false, self, CHROME_ID);
    json_decref(m);

    /* One line with the path, then the macOS and Windows hints. */
    char first[PATH_MAX + 128];
    snprintf(first, sizeof first, "wrote the chrome native messaging host manifest: %s\n", path);
    assert_true(strncmp(out, first, strlen(first)) == 0);
    assert_non_null(strstr(out, "\non macOS it would go to: ~/Library/Application Support/Google/"
                                "Chrome/NativeMessagingHosts/com.tabagent.host.json\n"));
    assert_non_null(strstr(out, "\non Windows: registry key HKCU\\Software\\Google\\Chrome\\"
                                "NativeMessagingHosts\\com.tabagent.host -> "));

    /* --opt=value forms, Firefox, the system scope's hints (the file still goes to DIR). */
    char dir_opt[PATH_MAX + 32];
    snprintf(dir_opt, sizeof dir_opt, "--manifest-dir=%s", dir);
    char *argv2[] = {"install-native-host",
                     "--browser=firefox",
                     "--extension-id=" GECKO_ID,
                     dir_opt,
                     "--system",
                     NULL};
    assert_int_equal(run_captured(ta_cmd_install_native_host, ARGC(argv2), argv2, out, sizeof out),
                     TA_CMD_EXIT_OK);
    m = load_json(path);
    check_manifest(m, true, self, GECKO_ID);
    json_decref(m);
    assert_non_null(strstr(out, "wrote the firefox native messaging host manifest: "));
    assert_non_null(strstr(out, "HKLM\\Software\\Mozilla\\NativeMessagingHosts"));
    assert_non_null(strstr(out, "/Library/Application Support/Mozilla/NativeMessagingHosts"));
}

static void test_cmd_install_defaults(void **state)
{
    (void)state;
    /* No --browser, no --manifest-dir: chrome, per user, under $HOME. */
    char path[PATH_MAX], self[PATH_MAX], out[8192];
    under_root(path, sizeof path,
               ".config/google-chrome/NativeMessagingHosts/com.tabagent.host.json");
    assert_non_null(realpath("/proc/self/exe", self));
    char *argv[] = {"install-native-host", "--extension-id", CHROME_ID, NULL};
    assert_int_equal(run_captured(ta_cmd_install_native_host, ARGC(argv), argv, out, sizeof out),
                     TA_CMD_EXIT_OK);
    json_t *m = load_json(path);
    check_manifest(m, false, self, CHROME_ID);
    json_decref(m);

    /* A relative --manifest-dir is taken from the current directory. */
    char cwd[PATH_MAX], rel_path[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(g_root), 0);
    char *argv2[] = {"install-native-host", "--extension-id", CHROME_ID,
                     "--manifest-dir",      "rel/hosts",      NULL};
    int rc = run_captured(ta_cmd_install_native_host, ARGC(argv2), argv2, out, sizeof out);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, TA_CMD_EXIT_OK);
    under_root(rel_path, sizeof rel_path, "rel/hosts/com.tabagent.host.json");
    assert_true(file_exists(rel_path));
    assert_non_null(strstr(out, rel_path));
}

static void test_cmd_usage_errors(void **state)
{
    (void)state;
    char dir[PATH_MAX], out[8192];
    under_root(dir, sizeof dir, "usage-hosts");

    char *no_id[] = {"install-native-host", "--manifest-dir", dir, NULL};
    char *bad_id[] = {"install-native-host", "--extension-id", "xyz", "--manifest-dir", dir, NULL};
    char *ff_bad[] = {"install-native-host", "--browser", "firefox", "--extension-id", CHROME_ID,
                      "--manifest-dir",      dir,         NULL};
    char *bad_browser[] = {
        "install-native-host", "--browser", "safari", "--extension-id", CHROME_ID,
        "--manifest-dir",      dir,         NULL};
    char *unknown[] = {"install-native-host", "--extension-id", CHROME_ID, "--frobnicate", NULL};
    char *short_unknown[] = {"install-native-host", "-x", NULL};
    char *missing_value[] = {"install-native-host", "--extension-id", CHROME_ID, "--browser", NULL};
    char *positional[] = {"install-native-host", "--extension-id", CHROME_ID, "extra", NULL};
    char *both_scopes[] = {"install-native-host",
                           "--extension-id",
                           CHROME_ID,
                           "--user",
                           "--system",
                           "--manifest-dir",
                           dir,
                           NULL};
    char *empty_dir[] = {"install-native-host", "--extension-id", CHROME_ID,
                         "--manifest-dir=", NULL};
    struct {
        char **argv;
        int argc;
    } cases[] = {
        {no_id, ARGC(no_id)},
        {bad_id, ARGC(bad_id)},
        {ff_bad, ARGC(ff_bad)},
        {bad_browser, ARGC(bad_browser)},
        {unknown, ARGC(unknown)},
        {short_unknown, ARGC(short_unknown)},
        {missing_value, ARGC(missing_value)},
        {positional, ARGC(positional)},
        {both_scopes, ARGC(both_scopes)},
        {empty_dir, ARGC(empty_dir)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        out[0] = 'x';
        int rc =
            run_captured(ta_cmd_install_native_host, cases[i].argc, cases[i].argv, out, sizeof out);
        if (rc != TA_CMD_EXIT_USAGE) fail_msg("case %zu: exit %d, want 2", i, rc);
        assert_string_equal(out, ""); /* errors go to stderr only */
    }
    assert_false(file_exists(dir));

    /* uninstall takes no --extension-id. */
    char *un_id[] = {"uninstall-native-host", "--extension-id", CHROME_ID, NULL};
    assert_int_equal(
        run_captured(ta_cmd_uninstall_native_host, ARGC(un_id), un_id, out, sizeof out),
        TA_CMD_EXIT_USAGE);

    /* --help succeeds and prints the usage to stdout. */
    char *help[] = {"install-native-host", "--help", NULL};
    assert_int_equal(run_captured(ta_cmd_install_native_host, ARGC(help), help, out, sizeof out),
                     TA_CMD_EXIT_OK);
    assert_non_null(strstr(out, "--extension-id ID"));
    char *un_help[] = {"uninstall-native-host", "--help", NULL};
    assert_int_equal(
        run_captured(ta_cmd_uninstall_native_host, ARGC(un_help), un_help, out, sizeof out),
        TA_CMD_EXIT_OK);
    assert_non_null(strstr(out, "uninstall-native-host"));
}

static void test_cmd_runtime_failure(void **state)
{
    (void)state;
    char file[PATH_MAX], below[PATH_MAX], out[8192];
    under_root(file, sizeof file, "plain-file");
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    under_root(below, sizeof below, "plain-file/hosts");
    char *argv[] = {
        "install-native-host", "--extension-id", CHROME_ID, "--manifest-dir", below, NULL};
    assert_int_equal(run_captured(ta_cmd_install_native_host, ARGC(argv), argv, out, sizeof out),
                     TA_CMD_EXIT_FAILURE);
    assert_string_equal(out, "");
}

static void test_cmd_uninstall(void **state)
{
    (void)state;
    char dir[PATH_MAX], path[PATH_MAX], out[8192];
    under_root(dir, sizeof dir, "un-hosts");
    under_root(path, sizeof path, "un-hosts/com.tabagent.host.json");

    char *install[] = {"install-native-host", "--browser", "chromium", "--extension-id", CHROME_ID,
                       "--manifest-dir",      dir,         NULL};
    assert_int_equal(
        run_captured(ta_cmd_install_native_host, ARGC(install), install, out, sizeof out),
        TA_CMD_EXIT_OK);
    assert_true(file_exists(path));

    char *argv[] = {"uninstall-native-host", "--browser", "chromium", "--manifest-dir", dir, NULL};
    assert_int_equal(run_captured(ta_cmd_uninstall_native_host, ARGC(argv), argv, out, sizeof out),
                     TA_CMD_EXIT_OK);
    assert_false(file_exists(path));
    assert_non_null(strstr(out, "removed the chromium native messaging host manifest: "));
    assert_non_null(strstr(out, path));

    /* Missing file: still exit 0, and the output says it was not installed. */
    assert_int_equal(run_captured(ta_cmd_uninstall_native_host, ARGC(argv), argv, out, sizeof out),
                     TA_CMD_EXIT_OK);
    assert_non_null(strstr(out, "was not installed"));

    /* Default location under $HOME, after a default install. */
    char *inst_default[] = {"install-native-host", "--extension-id", CHROME_ID, NULL};
    char *un_default[] = {"uninstall-native-host", NULL};
    char home_path[PATH_MAX];
    under_root(home_path, sizeof home_path,
               ".config/google-chrome/NativeMessagingHosts/com.tabagent.host.json");
    assert_int_equal(
        run_captured(ta_cmd_install_native_host, ARGC(inst_default), inst_default, out, sizeof out),
        TA_CMD_EXIT_OK);
    assert_true(file_exists(home_path));
    assert_int_equal(
        run_captured(ta_cmd_uninstall_native_host, ARGC(un_default), un_default, out, sizeof out),
        TA_CMD_EXIT_OK);
    assert_false(file_exists(home_path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_browser_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_system_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_platforms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chromium_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_firefox_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_chrome_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_every_browser, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_firefox_custom_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uninstall, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_install, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_install_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_runtime_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmd_uninstall, setup, teardown),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
