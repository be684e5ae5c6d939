/*
 * manifest.c - see manifest.h.
 */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/paths.h"

/* Longest path this module builds; generous, and every copy into it is checked. */
#define PATH_CAP 4096

/*
 * Where each browser looks for host manifests. Sources: the Chrome and Firefox
 * native-messaging documentation, and the branded copies of Chromium's paths for Edge
 * and Brave. Per-user entries are relative to the home directory.
 */
static const struct browser_info {
    const char *name;
    const char *linux_user;
    const char *linux_system;
    const char *macos_user;
    const char *macos_system;
    const char *windows_key; /* below HKCU or HKLM, without the host name */
} browsers[TA_NATIVE_MANIFEST_BROWSER_COUNT] = {
    [TA_NATIVE_MANIFEST_CHROME] = {"chrome", ".config/google-chrome/NativeMessagingHosts",
                                   "/etc/opt/chrome/native-messaging-hosts",
                                   "Library/Application Support/Google/Chrome/NativeMessagingHosts",
                                   "/Library/Google/Chrome/NativeMessagingHosts",
                                   "Software\\Google\\Chrome\\NativeMessagingHosts"},
    [TA_NATIVE_MANIFEST_CHROMIUM] = {"chromium", ".config/chromium/NativeMessagingHosts",
                                     "/etc/chromium/native-messaging-hosts",
                                     "Library/Application Support/Chromium/NativeMessagingHosts",
                                     "/Library/Application Support/Chromium/NativeMessagingHosts",
                                     "Software\\Chromium\\NativeMessagingHosts"},
    [TA_NATIVE_MANIFEST_EDGE] = {"edge", ".config/microsoft-edge/NativeMessagingHosts",
                                 "/etc/opt/edge/native-messaging-hosts",
                                 "Library/Application Support/Microsoft Edge/NativeMessagingHosts",
                                 "/Library/Microsoft/Edge/NativeMessagingHosts",
                                 "Software\\Microsoft\\Edge\\NativeMessagingHosts"},
    /* Brave on Windows reads Chrome's registry key rather than one of its own. */
    [TA_NATIVE_MANIFEST_BRAVE] =
        {"brave", ".config/BraveSoftware/Brave-Browser/NativeMessagingHosts",
         "/etc/opt/brave.com/brave/native-messaging-hosts",
         "Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
         "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
         "Software\\Google\\Chrome\\NativeMessagingHosts"},
    [TA_NATIVE_MANIFEST_FIREFOX] = {"firefox", ".mozilla/native-messaging-hosts",
                                    "/usr/lib/mozilla/native-messaging-hosts",
                                    "Library/Application Support/Mozilla/NativeMessagingHosts",
                                    "/Library/Application Support/Mozilla/NativeMessagingHosts",
                                    "Software\\Mozilla\\NativeMessagingHosts"},
};

/* The table row for browser, or NULL (with err filled) when the value is out of range. */
static const struct browser_info *lookup(ta_native_manifest_browser browser, ta_error *err)
{
    if ((unsigned)browser >= TA_NATIVE_MANIFEST_BROWSER_COUNT) {
        ta_error_set(err, TA_EINVAL, "unknown browser (%d)", (int)browser);
        return NULL;
    }
    return &browsers[browser];
}

static int check_scope(ta_native_manifest_scope scope, ta_error *err)
{
    if (scope != TA_NATIVE_MANIFEST_USER && scope != TA_NATIVE_MANIFEST_SYSTEM)
        return ta_error_set(err, TA_EINVAL, "unknown manifest scope (%d)", (int)scope);
    return TA_OK;
}

/* snprintf into out, TA_EINVAL when it does not fit. */
static int format_into(char *out, size_t cap, ta_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int format_into(char *out, size_t cap, ta_error *err, const char *fmt, ...)
{
    if (!out || cap == 0) return ta_error_set(err, TA_EINVAL, "no room for the result");
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) return ta_error_set(err, TA_EINVAL, "path too long");
    return TA_OK;
}

int ta_native_manifest_browser_parse(const char *name, ta_native_manifest_browser *out,
                                     ta_error *err)
{
    if (name) {
        for (int i = 0; i < TA_NATIVE_MANIFEST_BROWSER_COUNT; i++) {
            if (strcmp(name, browsers[i].name) == 0) {
                *out = (ta_native_manifest_browser)i;
                return TA_OK;
            }
        }
    }
    return ta_error_set(err, TA_EINVAL,
                        "unknown browser '%.64s': expected chrome, chromium, edge, brave or "
                        "firefox",
                        name ? name : "");
}

const char *ta_native_manifest_browser_name(ta_native_manifest_browser browser)
{
    const struct browser_info *b = lookup(browser, NULL);
    return b ? b->name : "unknown";
}

bool ta_native_manifest_is_firefox(ta_native_manifest_browser browser)
{
    return browser == TA_NATIVE_MANIFEST_FIREFOX;
}

int ta_native_manifest_dir(ta_native_manifest_browser browser, ta_native_manifest_scope scope,
                           char *out, size_t cap, ta_error *err)
{
    const struct browser_info *b = lookup(browser, err);
    if (!b) return TA_EINVAL;
    int rc = check_scope(scope, err);
    if (rc) return rc;
    if (scope == TA_NATIVE_MANIFEST_SYSTEM)
        return format_into(out, cap, err, "%s", b->linux_system);

    char home[PATH_CAP];
    rc = ta_paths_home(home, sizeof home, err);
    if (rc) return rc;
    return ta_paths_join(out, cap, home, b->linux_user, err);
}

int ta_native_manifest_macos_path(ta_native_manifest_browser browser,
                                  ta_native_manifest_scope scope, char *out, size_t cap,
                                  ta_error *err)
{
    const struct browser_info *b = lookup(browser, err);
    if (!b) return TA_EINVAL;
    int rc = check_scope(scope, err);
    if (rc) return rc;
    if (scope == TA_NATIVE_MANIFEST_SYSTEM)
        return format_into(out, cap, err, "%s/%s", b->macos_system, TA_NATIVE_MANIFEST_FILE_NAME);
    return format_into(out, cap, err, "~/%s/%s", b->macos_user, TA_NATIVE_MANIFEST_FILE_NAME);
}

int ta_native_manifest_windows_key(ta_native_manifest_browser browser,
                                   ta_native_manifest_scope scope, char *out, size_t cap,
                                   ta_error *err)
{
    const struct browser_info *b = lookup(browser, err);
    if (!b) return TA_EINVAL;
    int rc = check_scope(scope, err);
    if (rc) return rc;
    return format_into(out, cap, err, "%s\\%s\\%s",
                       scope == TA_NATIVE_MANIFEST_SYSTEM ? "HKLM" : "HKCU", b->windows_key,
                       TA_NATIVE_MANIFEST_HOST_NAME);
}

/* ---- extension ids ---------------------------------------------------------------- */

/* A Chromium id is the first 128 bits of a SHA-256, one nibble per letter a-p. */
static bool is_chromium_id(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (n >= 32 || id[n] < 'a' || id[n] > 'p') return false;
    return n == 32;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", n being strlen(id). */
static bool is_braced_uuid(const char *id, size_t n)
{
    static const char shape[] = "{________-____-____-____-____________}";
    if (n != sizeof shape - 1) return false;
    for (size_t i = 0; i < n; i++) {
        if (shape[i] == '_' ? !is_hex(id[i]) : id[i] != shape[i]) return false;
    }
    return true;
}

/* The characters addons.mozilla.org allows on either side of the '@'. */
static bool is_gecko_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

/* "name@domain": exactly one '@' with a non-empty run of allowed characters either side.
 * The allowed set already excludes quotes, slashes, spaces and control characters. */
static bool is_email_like(const char *id, size_t n)
{
    const char *at = memchr(id, '@', n);
    if (!at || at == id || at == id + n - 1) return false;
    for (size_t i = 0; i < n; i++)
        if (id + i != at && !is_gecko_char(id[i])) return false;
    return true;
}

int ta_native_manifest_check_id(ta_native_manifest_browser browser, const char *id, ta_error *err)
{
    if (!lookup(browser, err)) return TA_EINVAL;
    if (!id || !id[0]) return ta_error_set(err, TA_EINVAL, "the extension id is empty");

    if (!ta_native_manifest_is_firefox(browser)) {
        if (is_chromium_id(id)) return TA_OK;
        return ta_error_set(err, TA_EINVAL,
                            "invalid %s extension id '%.64s': expected exactly 32 lower-case "
                            "letters a-p (as shown on chrome://extensions)",
                            browsers[browser].name, id);
    }

    /* Bound the scan: strnlen never reads past the limit on an unterminated giant. */
    size_t n = strnlen(id, TA_NATIVE_MANIFEST_ID_MAX + 1);
    if (n <= TA_NATIVE_MANIFEST_ID_MAX && (is_braced_uuid(id, n) || is_email_like(id, n)))
        return TA_OK;
    return ta_error_set(err, TA_EINVAL,
                        "invalid firefox extension id '%.64s%s': expected name@domain "
                        "(letters, digits, '.', '-', '_') or a {uuid} such as "
                        "{01234567-89ab-cdef-0123-456789abcdef}, at most %d bytes",
                        id, n > 64 ? "..." : "", TA_NATIVE_MANIFEST_ID_MAX);
}

/* ---- the manifest ----------------------------------------------------------------- */

/* Browsers exec the path as is, so it must be absolute; control characters would only
 * come from a broken caller and would make the file unreadable for people. */
static int check_host_path(const char *path, ta_error *err)
{
    if (!path || path[0] != '/')
        return ta_error_set(err, TA_EINVAL, "the host binary path must be absolute, got '%.200s'",
                            path ? path : "");
    size_t n = strnlen(path, PATH_CAP);
    if (n >= PATH_CAP) return ta_error_set(err, TA_EINVAL, "the host binary path is too long");
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
            return ta_error_set(err, TA_EINVAL,
                                "the host binary path contains a control character");
    }
    return TA_OK;
}

int ta_native_manifest_build(ta_native_manifest_browser browser, const char *host_path,
                             const char *extension_id, json_t **out, ta_error *err)
{
    *out = NULL;
    int rc = ta_native_manifest_check_id(browser, extension_id, err);
    if (rc) return rc;
    rc = check_host_path(host_path, err);
    if (rc) return rc;

    json_t *allowed = json_array();
    json_t *root = json_object();
    if (!allowed || !root) goto oom;

    if (ta_native_manifest_is_firefox(browser)) {
        if (json_array_append_new(allowed, json_string(extension_id))) goto oom;
    } else {
        char origin[64]; /* "chrome-extension://" + 32 + "/" */
        rc = format_into(origin, sizeof origin, err, "chrome-extension://%s/", extension_id);
        if (rc) goto fail;
        if (json_array_append_new(allowed, json_string(origin))) goto oom;
    }

    /* jansson keeps insertion order, so the file reads in the documented order. A NULL
     * from json_string (invalid UTF-8 in the path) makes the _new setter fail. */
    if (json_object_set_new(root, "name", json_string(TA_NATIVE_MANIFEST_HOST_NAME)) ||
        json_object_set_new(root, "description", json_string(TA_NATIVE_MANIFEST_DESCRIPTION)))
        goto oom;
    if (json_object_set_new(root, "path", json_string(host_path))) {
        rc = ta_error_set(err, TA_EINVAL, "the host binary path is not valid UTF-8");
        goto fail;
    }
    if (json_object_set_new(root, "type", json_string("stdio"))) goto oom;
    const char *key =
        ta_native_manifest_is_firefox(browser) ? "allowed_extensions" : "allowed_origins";
    rc = json_object_set_new(root, key, allowed);
    allowed = NULL; /* stolen even on failure */
    if (rc) goto oom;

    *out = root;
    return TA_OK;

oom:
    rc = ta_error_set(err, TA_ENOMEM, "out of memory building the host manifest");
fail:
    json_decref(allowed);
    json_decref(root);
    return rc;
}

/* ---- install and uninstall -------------------------------------------------------- */

/* The directory the target names: its override, else the browser's own. */
static int target_dir(const ta_native_manifest_target *t, char *out, size_t cap, ta_error *err)
{
    if (!t) return ta_error_set(err, TA_EINVAL, "no manifest target");
    if (!lookup(t->browser, err)) return TA_EINVAL;
    int rc = check_scope(t->scope, err);
    if (rc) return rc;
    if (t->dir) {
        if (!t->dir[0]) return ta_error_set(err, TA_EINVAL, "the manifest directory is empty");
        return format_into(out, cap, err, "%s", t->dir);
    }
    return ta_native_manifest_dir(t->browser, t->scope, out, cap, err);
}

/* Words for a failed file operation. The caller adds hints that need context (a
 * permission error on a system-wide install means "run as root"). */
static int io_error(ta_error *err, int errnum, const char *what, const char *path)
{
    return ta_error_set(err, TA_EIO, "cannot %s %s: %s", what, path, strerror(errnum));
}

/* write(2) until done, riding out short writes and signals. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Makes a finished rename durable. Best effort: some filesystems refuse fsync on a
 * directory, and the manifest is already in place either way. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* Writes text to path via a temporary file in the same directory and rename(2), which
 * replaces the old file in one step on the same filesystem. */
static int write_atomically(const char *dir, const char *path, const char *text, ta_error *err)
{
    char tmp[PATH_CAP];
    int rc = format_into(tmp, sizeof tmp, err, "%s/.%s.XXXXXX", dir, TA_NATIVE_MANIFEST_FILE_NAME);
    if (rc) return rc;

    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) return io_error(err, errno, "create a temporary file in", dir);

    /* mkostemp makes the file 0600; browsers run as other users for system installs. */
    if (write_all(fd, text, strlen(text)) != 0) {
        rc = io_error(err, errno, "write", tmp);
    } else if (fchmod(fd, 0644) != 0) {
        rc = io_error(err, errno, "set the mode of", tmp);
    } else if (fsync(fd) != 0) {
        rc = io_error(err, errno, "flush", tmp);
    }
    if (close(fd) != 0 && rc == TA_OK) rc = io_error(err, errno, "close", tmp);
    if (rc == TA_OK && rename(tmp, path) != 0) rc = io_error(err, errno, "replace", path);
    if (rc != TA_OK) {
        unlink(tmp);
        return rc;
    }
    sync_dir(dir);
    return TA_OK;
}

/* Copies s into out when the caller asked for it. */
static int report_path(char *out, size_t cap, const char *s, ta_error *err)
{
    if (!out || cap == 0) return TA_OK;
    return format_into(out, cap, err, "%s", s);
}

int ta_native_manifest_install(const ta_native_manifest_target *target, char *written, size_t cap,
                               ta_error *err)
{
    char dir[PATH_CAP], path[PATH_CAP];
    int rc = target_dir(target, dir, sizeof dir, err);
    if (rc) return rc;
    rc = ta_paths_join(path, sizeof path, dir, TA_NATIVE_MANIFEST_FILE_NAME, err);
    if (rc) return rc;

    /* Build first: a bad id or path must not leave an empty directory behind. */
    json_t *manifest = NULL;
    rc = ta_native_manifest_build(target->browser, target->host_path, target->extension_id,
                                  &manifest, err);
    if (rc) return rc;
    char *body = json_dumps(manifest, JSON_INDENT(2));
    json_decref(manifest);
    if (!body) return ta_error_set(err, TA_ENOMEM, "out of memory writing the host manifest");

    /* A trailing newline keeps the file friendly to cat and editors. */
    size_t len = strlen(body);
    char *text = malloc(len + 2);
    if (!text) {
        free(body);
        return ta_error_set(err, TA_ENOMEM, "out of memory writing the host manifest");
    }
    memcpy(text, body, len);
    text[len] = '\n';
    text[len + 1] = '\0';
    free(body);

    rc = ta_paths_mkdirs(dir, 0755, err);
    if (rc == TA_OK) rc = write_atomically(dir, path, text, err);
    free(text);
    if (rc) return rc;
    return report_path(written, cap, path, err);
}

int ta_native_manifest_uninstall(const ta_native_manifest_target *target, char *path_out,
                                 size_t cap, bool *was_installed, ta_error *err)
{
    if (was_installed) *was_installed = false;
    char dir[PATH_CAP], path[PATH_CAP];
    int rc = target_dir(target, dir, sizeof dir, err);
    if (rc) return rc;
    rc = ta_paths_join(path, sizeof path, dir, TA_NATIVE_MANIFEST_FILE_NAME, err);
    if (rc) return rc;
    rc = report_path(path_out, cap, path, err);
    if (rc) return rc;

    if (unlink(path) != 0) {
        /* ENOTDIR: a parent is a plain file, so no manifest can be there either. */
        if (errno == ENOENT || errno == ENOTDIR) return TA_OK;
        return io_error(err, errno, "remove", path);
    }
    if (was_installed) *was_installed = true;
    sync_dir(dir);
    return TA_OK;
}
