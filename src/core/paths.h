/*
 * paths.h - where tabagent keeps its files.
 *
 *   data dir   $XDG_DATA_HOME/TabAgent, else ~/.local/share/TabAgent
 *   database   <data dir>/tabagent_db/
 *   models     <data dir>/models/
 *
 * Flags (--db-path, --model-cache-path) override the last two; these functions give the
 * defaults. All results are absolute paths written into caller buffers.
 */
#ifndef TA_CORE_PATHS_H
#define TA_CORE_PATHS_H

#include <stddef.h>

#include "error.h"

int ta_paths_data_dir(char *out, size_t cap, ta_error *err);
int ta_paths_db_dir(char *out, size_t cap, ta_error *err);
int ta_paths_models_dir(char *out, size_t cap, ta_error *err);

/* The user's home directory: $HOME, else the password database. */
int ta_paths_home(char *out, size_t cap, ta_error *err);

/* mkdir -p with the given mode for each created component. */
int ta_paths_mkdirs(const char *path, unsigned mode, ta_error *err);

/* Joins a and b with one '/'; TA_EINVAL if it does not fit. */
int ta_paths_join(char *out, size_t cap, const char *a, const char *b, ta_error *err);

/* A name beside path for a file to write and then rename over path: "<path>.tmp-<pid>-<n>",
 * n counting per process, so two writers (threads or processes) of one path never share
 * a temporary file (with a fixed name, one's rename takes the other's file away).
 * TA_EINVAL if it does not fit. */
int ta_paths_tmp_name(char *out, size_t cap, const char *path, ta_error *err);

#endif
