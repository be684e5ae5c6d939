/*
 * log.h - leveled, thread-safe logging to stderr or a file; never to stdout
 * (stdout is the native-messaging channel).
 *
 * Each line: "2026-11-28T09:30:00.123Z INFO  [tid] message". A line is written with a
 * single write(2), so lines from different threads never interleave.
 */
#ifndef TA_CORE_LOG_H
#define TA_CORE_LOG_H

typedef enum {
    TA_LOG_ERROR = 0,
    TA_LOG_WARN = 1,
    TA_LOG_INFO = 2,
    TA_LOG_DEBUG = 3,
    TA_LOG_TRACE = 4,
} ta_log_level;

/* Parses "error", "warn", "info", "debug", "trace"; returns -1 if unknown. */
int ta_log_level_parse(const char *name);
const char *ta_log_level_name(ta_log_level level);

void ta_log_set_level(ta_log_level level);
ta_log_level ta_log_get_level(void);

/* Sends logs to path (appended, created 0600), or back to stderr when path is NULL.
 * Returns 0, or a negative TA_E* code when the file cannot be opened. */
int ta_log_set_file(const char *path);

void ta_log(ta_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ta_log_error(...) ta_log(TA_LOG_ERROR, __VA_ARGS__)
#define ta_log_warn(...)  ta_log(TA_LOG_WARN, __VA_ARGS__)
#define ta_log_info(...)  ta_log(TA_LOG_INFO, __VA_ARGS__)
#define ta_log_debug(...) ta_log(TA_LOG_DEBUG, __VA_ARGS__)

#endif
