/*
 * install_cmd.h - the install-native-host and uninstall-native-host subcommands.
 *
 * These put the browser's host manifest (com.tabagent.host.json) in place, or take it
 * away, so an extension can start tabagent-server over native messaging:
 *
 *   tabagent-server install-native-host --extension-id ID
 *       [--browser chrome|chromium|edge|brave|firefox] [--user|--system] [--manifest-dir DIR]
 *   tabagent-server uninstall-native-host
 *       [--browser chrome|chromium|edge|brave|firefox] [--user|--system] [--manifest-dir DIR]
 *
 * The manifest points at the running binary (realpath of /proc/self/exe). Results go to
 * stdout, errors to stderr. The work itself is in transport/native/manifest.h.
 */
#ifndef TA_SERVER_INSTALL_CMD_H
#define TA_SERVER_INSTALL_CMD_H

/* Exit statuses of both commands. */
enum {
    TA_CMD_EXIT_OK = 0,      /* done (for uninstall, also when nothing was installed) */
    TA_CMD_EXIT_FAILURE = 1, /* the file could not be written or removed */
    TA_CMD_EXIT_USAGE = 2,   /* bad or missing options, or a malformed extension id */
};

/* argv[0] is the subcommand name ("install-native-host"), argv[1..argc-1] its options.
 * The argv array is not modified (options are parsed from a copy). Returns an exit
 * status from the enum above. */
int ta_cmd_install_native_host(int argc, char **argv);
int ta_cmd_uninstall_native_host(int argc, char **argv);

#endif
