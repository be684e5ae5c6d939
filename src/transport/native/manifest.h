/*
 * manifest.h - the native-messaging host manifest that lets a browser start tabagent.
 *
 * A browser extension reaches tabagent over stdio only after the browser has found a
 * "host manifest" named com.tabagent.host.json: a small JSON file giving the absolute
 * path of the host binary and the extension ids allowed to start it. This module knows
 * where each supported browser looks for that file (Linux per user and system-wide, and,
 * for printing only, macOS directories and Windows registry keys), checks extension ids,
 * builds the JSON, and installs or removes the file atomically. It does no argument
 * parsing and prints nothing; src/server/install_cmd.c is the CLI on top.
 */
#ifndef TA_TRANSPORT_NATIVE_MANIFEST_H
#define TA_TRANSPORT_NATIVE_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

/* The host name extensions pass to runtime.connectNative(), and its manifest file. */
#define TA_NATIVE_MANIFEST_HOST_NAME   "com.tabagent.host"
#define TA_NATIVE_MANIFEST_FILE_NAME   "com.tabagent.host.json"
#define TA_NATIVE_MANIFEST_DESCRIPTION "TabAgent local AI server"

/* Longest extension id accepted (Firefox's limit for add-on ids). */
#define TA_NATIVE_MANIFEST_ID_MAX 255

typedef enum {
    TA_NATIVE_MANIFEST_CHROME = 0,
    TA_NATIVE_MANIFEST_CHROMIUM,
    TA_NATIVE_MANIFEST_EDGE,
    TA_NATIVE_MANIFEST_BRAVE,
    TA_NATIVE_MANIFEST_FIREFOX,
    TA_NATIVE_MANIFEST_BROWSER_COUNT /* not a browser; the number of them */
} ta_native_manifest_browser;

typedef enum {
    TA_NATIVE_MANIFEST_USER = 0, /* below the user's home; no privileges needed */
    TA_NATIVE_MANIFEST_SYSTEM,   /* for every user of the machine; needs root */
} ta_native_manifest_scope;

/* What install and uninstall act on. All pointers are borrowed for the call. */
typedef struct ta_native_manifest_target {
    ta_native_manifest_browser browser;
    ta_native_manifest_scope scope;
    /* Directory to use instead of the browser's own for scope, or NULL. Chromium with a
     * custom --user-data-dir reads <user-data-dir>/NativeMessagingHosts/. */
    const char *dir;
    const char *host_path;    /* install only: absolute path of the host binary */
    const char *extension_id; /* install only: checked with ta_native_manifest_check_id */
} ta_native_manifest_target;

/* "chrome", "chromium", "edge", "brave" or "firefox" -> *out. Anything else is TA_EINVAL
 * with a message listing the accepted names. */
int ta_native_manifest_browser_parse(const char *name, ta_native_manifest_browser *out,
                                     ta_error *err);

/* The lower-case name parse accepts, or "unknown" for an out-of-range value. */
const char *ta_native_manifest_browser_name(ta_native_manifest_browser browser);

/* True for Firefox, whose manifest and extension ids differ from the Chromium family. */
bool ta_native_manifest_is_firefox(ta_native_manifest_browser browser);

/* The Linux directory the browser reads host manifests from, e.g.
 * $HOME/.config/google-chrome/NativeMessagingHosts or /etc/opt/chrome/native-messaging-hosts.
 * Home comes from ta_paths_home(). */
int ta_native_manifest_dir(ta_native_manifest_browser browser, ta_native_manifest_scope scope,
                           char *out, size_t cap, ta_error *err);

/* Where the manifest file would go on macOS, for messages only. The user path starts with
 * a literal "~/" because the Mac's home is not this machine's. */
int ta_native_manifest_macos_path(ta_native_manifest_browser browser,
                                  ta_native_manifest_scope scope, char *out, size_t cap,
                                  ta_error *err);

/* The Windows registry key whose default value is the manifest's full path, for messages
 * only, e.g. HKCU\Software\Google\Chrome\NativeMessagingHosts\com.tabagent.host (HKLM for
 * the system scope). */
int ta_native_manifest_windows_key(ta_native_manifest_browser browser,
                                   ta_native_manifest_scope scope, char *out, size_t cap,
                                   ta_error *err);

/* Checks an extension id for the browser. Chromium family: exactly 32 characters a-p.
 * Firefox: "name@domain" (letters, digits, '.', '-', '_') or a "{uuid}" in 8-4-4-4-12 hex,
 * at most TA_NATIVE_MANIFEST_ID_MAX bytes. TA_EINVAL naming the expected format otherwise. */
int ta_native_manifest_check_id(ta_native_manifest_browser browser, const char *id, ta_error *err);

/* Builds the manifest object:
 *   {"name", "description", "path": host_path, "type": "stdio",
 *    "allowed_origins": ["chrome-extension://<id>/"]}   (Chromium family)
 *    "allowed_extensions": ["<id>"]                      (Firefox, instead)
 * host_path must be absolute; the id is checked. On success *out is a new reference the
 * caller releases with json_decref(). */
int ta_native_manifest_build(ta_native_manifest_browser browser, const char *host_path,
                             const char *extension_id, json_t **out, ta_error *err);

/* Builds the manifest and writes it, pretty-printed, to <dir>/com.tabagent.host.json:
 * creates the directory (mode 0755) if needed, writes a temporary file in the same
 * directory, fsyncs it, sets mode 0644 and renames it over any existing file, so a
 * browser never reads a half-written manifest. The path written goes to written (which
 * may be NULL when cap is 0). */
int ta_native_manifest_install(const ta_native_manifest_target *target, char *written, size_t cap,
                               ta_error *err);

/* Removes <dir>/com.tabagent.host.json. A file that is not there is not an error: the
 * call returns 0 with *was_installed false (was_installed may be NULL). The path acted
 * on goes to path (which may be NULL when cap is 0). */
int ta_native_manifest_uninstall(const ta_native_manifest_target *target, char *path, size_t cap,
                                 bool *was_installed, ta_error *err);

#endif
