/*
 * install_cmd.c - see install_cmd.h.
 */
#include "install_cmd.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/paths.h"
#include "transport/native/manifest.h"

#define PROG     "tabagent-server"
#define PATH_CAP 4096

typedef struct cmd_opts {
    const char *extension_id; /* borrowed from argv */
    const char *manifest_dir; /* borrowed from argv; NULL = the browser's directory */
    ta_native_manifest_browser browser;
    ta_native_manifest_scope scope;
    bool help;
} cmd_opts;

enum { OPT_EXTENSION_ID = 256, OPT_BROWSER, OPT_USER, OPT_SYSTEM, OPT_MANIFEST_DIR };

/* The first entry is install-only; uninstall parses with the table past it, so
 * --extension-id is an unknown option there. */
static const struct option long_options[] = {
    {"extension-id", required_argument, NULL, OPT_EXTENSION_ID},
    {"browser", required_argument, NULL, OPT_BROWSER},
    {"user", no_argument, NULL, OPT_USER},
    {"system", no_argument, NULL, OPT_SYSTEM},
    {"manifest-dir", required_argument, NULL, OPT_MANIFEST_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void print_usage(FILE *f, bool install)
{
    if (install)
        fprintf(f, "usage: " PROG " install-native-host --extension-id ID\n"
                   "           [--browser chrome|chromium|edge|brave|firefox] [--user|--system]\n"
                   "           [--manifest-dir DIR]\n"
                   "\n"
                   "Writes the native messaging host manifest " TA_NATIVE_MANIFEST_FILE_NAME
                   " so the\n"
                   "browser extension ID may start this binary.\n"
                   "\n"
                   "  --extension-id ID  Chromium family: the 32-letter id (a-p) from "
                   "chrome://extensions;\n"
                   "                     Firefox: the add-on id, name@domain or {uuid}\n");
    else
        fprintf(f, "usage: " PROG " uninstall-native-host\n"
                   "           [--browser chrome|chromium|edge|brave|firefox] [--user|--system]\n"
                   "           [--manifest-dir DIR]\n"
                   "\n"
                   "Removes the native messaging host manifest " TA_NATIVE_MANIFEST_FILE_NAME ".\n"
                   "\n");
    fprintf(f, "  --browser NAME     chrome (default), chromium, edge, brave or firefox\n"
               "  --user             the current user's browser profile directory (default)\n"
               "  --system           the system-wide directory, for every user (needs root)\n"
               "  --manifest-dir DIR use DIR instead of the browser's directory; for Chromium\n"
               "                     started with --user-data-dir=D, pass D/NativeMessagingHosts\n"
               "  --help             show this help\n");
}

/* A usage error: the message, a pointer to --help, and the status to return. */
static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG " %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun '" PROG " %s --help' for usage.\n", cmd);
    return TA_CMD_EXIT_USAGE;
}

/* Parses argv into o. Returns TA_CMD_EXIT_OK to go on (o->help may be set), or
 * TA_CMD_EXIT_USAGE after printing why. */
static int parse_args(int argc, char **argv, bool install, cmd_opts *o)
{
    const char *cmd = install ? "install-native-host" : "uninstall-native-host";
    memset(o, 0, sizeof *o);
    o->browser = TA_NATIVE_MANIFEST_CHROME;
    o->scope = TA_NATIVE_MANIFEST_USER;
    if (argc < 1 || !argv) return usage_error(cmd, "missing arguments");

    /* getopt_long permutes its array; work on a NULL-terminated copy so the caller's
     * argv stays as it was. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) {
        fprintf(stderr, PROG " %s: out of memory\n", cmd);
        return TA_CMD_EXIT_FAILURE;
    }
    memcpy(args, argv, (size_t)argc * sizeof *args);

    bool seen_user = false, seen_system = false;
    int rc = TA_CMD_EXIT_OK;
    const struct option *table = install ? long_options : long_options + 1;
    ta_error err = {0};

    /* optind = 0 makes glibc reinitialise its scanner, so the commands can be run more
     * than once in a process (the tests do). The leading ':' reports a missing value as
     * ':' rather than '?', and opterr = 0 lets the messages below speak instead. */
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, args, ":h", table, NULL);
        if (c == -1) break;
        switch (c) {
        case OPT_EXTENSION_ID: o->extension_id = optarg; break;
        case OPT_MANIFEST_DIR: o->manifest_dir = optarg; break;
        case OPT_USER: seen_user = true; break;
        case OPT_SYSTEM: seen_system = true; break;
        case 'h': o->help = true; break;
        case OPT_BROWSER:
            if (ta_native_manifest_browser_parse(optarg, &o->browser, &err) != TA_OK)
                rc = usage_error(cmd, "%s", err.message);
            break;
        case ':': rc = usage_error(cmd, "option '%s' needs a value", args[optind - 1]); break;
        default:
            if (optopt > 0 && optopt < 256)
                rc = usage_error(cmd, "unknown option '-%c'", optopt);
            else
                rc = usage_error(cmd, "unknown option '%s'", args[optind - 1]);
            break;
        }
        if (rc != TA_CMD_EXIT_OK) break;
    }
    if (rc == TA_CMD_EXIT_OK && !o->help) {
        if (optind < argc)
            rc = usage_error(cmd, "unexpected argument '%s'", args[optind]);
        else if (seen_user && seen_system)
            rc = usage_error(cmd, "--user and --system cannot be used together");
        else if (install && !o->extension_id)
            rc = usage_error(cmd, "--extension-id is required");
        else if (o->manifest_dir && !o->manifest_dir[0])
            rc = usage_error(cmd, "--manifest-dir needs a directory");
    }
    if (seen_system) o->scope = TA_NATIVE_MANIFEST_SYSTEM;
    free(args);
    return rc;
}

/* Makes a relative --manifest-dir absolute, so the path we print is the path to use. */
static int absolute_dir(const char *dir, char *out, size_t cap, ta_error *err)
{
    if (dir[0] == '/') {
        int n = snprintf(out, cap, "%s", dir);
        if (n < 0 || (size_t)n >= cap) return ta_error_set(err, TA_EINVAL, "path too long");
        return TA_OK;
    }
    char cwd[PATH_CAP];
    if (!getcwd(cwd, sizeof cwd))
        return ta_error_set(err, TA_EIO, "cannot find the current directory");
    return ta_paths_join(out, cap, cwd, dir, err);
}

/* Reports a failed install or uninstall. Permission trouble on a system-wide directory
 * almost always means the command was not run as root, so say so. */
static int runtime_error(const char *cmd, const cmd_opts *o, const ta_error *err)
{
    bool hint = err->code == TA_EIO && o->scope == TA_NATIVE_MANIFEST_SYSTEM && !o->manifest_dir &&
                geteuid() != 0;
    fprintf(stderr, PROG " %s: %s%s\n", cmd, err->message,
            hint ? " (--system writes to system directories: run it as root, e.g. with sudo)" : "");
    return TA_CMD_EXIT_FAILURE;
}

/* The macOS and Windows lines printed after the result, so one run also tells people
 * on other systems where the manifest belongs. */
static void print_elsewhere(const cmd_opts *o, bool install)
{
    char mac[PATH_CAP], key[PATH_CAP];
    if (ta_native_manifest_macos_path(o->browser, o->scope, mac, sizeof mac, NULL) != TA_OK ||
        ta_native_manifest_windows_key(o->browser, o->scope, key, sizeof key, NULL) != TA_OK)
        return;
    if (install) {
        printf("on macOS it would go to: %s\n", mac);
        printf("on Windows: registry key %s -> <folder of tabagent-server.exe>\\%s\n", key,
               TA_NATIVE_MANIFEST_FILE_NAME);
    } else {
        printf("on macOS it would be at: %s\n", mac);
        printf("on Windows: delete registry key %s\n", key);
    }
}

int ta_cmd_install_native_host(int argc, char **argv)
{
    const char *cmd = "install-native-host";
    cmd_opts o;
    int rc = parse_args(argc, argv, true, &o);
    if (rc != TA_CMD_EXIT_OK) return rc;
    if (o.help) {
        print_usage(stdout, true);
        return TA_CMD_EXIT_OK;
    }

    /* A malformed id is the user's typo, not a failure of the machine: usage status. */
    ta_error err = {0};
    if (ta_native_manifest_check_id(o.browser, o.extension_id, &err) != TA_OK)
        return usage_error(cmd, "%s", err.message);

    char dir[PATH_CAP];
    if (o.manifest_dir && absolute_dir(o.manifest_dir, dir, sizeof dir, &err) != TA_OK)
        return runtime_error(cmd, &o, &err);

    /* The manifest must name this very binary; symlinks resolved so moving a link that
     * pointed here does not break the browser's launch. */
    char self[PATH_MAX];
    if (!realpath("/proc/self/exe", self)) {
        fprintf(stderr, PROG " %s: cannot find the path of this program (/proc/self/exe)\n", cmd);
        return TA_CMD_EXIT_FAILURE;
    }

    ta_native_manifest_target t = {
        .browser = o.browser,
        .scope = o.scope,
        .dir = o.manifest_dir ? dir : NULL,
        .host_path = self,
        .extension_id = o.extension_id,
    };
    char written[PATH_CAP];
    if (ta_native_manifest_install(&t, written, sizeof written, &err) != TA_OK)
        return runtime_error(cmd, &o, &err);

    printf("wrote the %s native messaging host manifest: %s\n",
           ta_native_manifest_browser_name(o.browser), written);
    print_elsewhere(&o, true);
    fflush(stdout);
    return TA_CMD_EXIT_OK;
}

int ta_cmd_uninstall_native_host(int argc, char **argv)
{
    const char *cmd = "uninstall-native-host";
    cmd_opts o;
    int rc = parse_args(argc, argv, false, &o);
    if (rc != TA_CMD_EXIT_OK) return rc;
    if (o.help) {
        print_usage(stdout, false);
        return TA_CMD_EXIT_OK;
    }

    ta_error err = {0};
    char dir[PATH_CAP];
    if (o.manifest_dir && absolute_dir(o.manifest_dir, dir, sizeof dir, &err) != TA_OK)
        return runtime_error(cmd, &o, &err);

    ta_native_manifest_target t = {
        .browser = o.browser,
        .scope = o.scope,
        .dir = o.manifest_dir ? dir : NULL,
    };
    char path[PATH_CAP];
    bool was_installed = false;
    if (ta_native_manifest_uninstall(&t, path, sizeof path, &was_installed, &err) != TA_OK)
        return runtime_error(cmd, &o, &err);

    const char *name = ta_native_manifest_browser_name(o.browser);
    if (was_installed)
        printf("removed the %s native messaging host manifest: %s\n", name, path);
    else
        printf("the %s native messaging host manifest was not installed (no %s)\n", name, path);
    print_elsewhere(&o, false);
    fflush(stdout);
    return TA_CMD_EXIT_OK;
}
