/*
 * transaction.c - a caller's transaction around several storage calls, so that writes
 * to several logical databases (an entity and its embedding, ...) land together. Each
 * storage write inside it becomes a savepoint of it.
 */
#include "storage_internal.h"

int ta_store_begin(ta_store *s, ta_error *err)
{
    ta_store_release_view(s);
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return ta_error_set(err, TA_EIO, "BEGIN: %s", sqlite3_errmsg(s->db));
    return TA_OK;
}

int ta_store_commit(ta_store *s, ta_error *err)
{
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        int rc = ta_error_set(err, TA_EIO, "COMMIT: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return TA_OK;
}

void ta_store_rollback(ta_store *s)
{
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}
