#include "EmporiumSQLiteSupport.h"

// Declared here rather than through sqlite-nio's header: the vendored library prefixes its
// symbols, and only this one is needed.
extern int sqlite_nio_sqlite3_db_config(void *connection, int operation, ...);

// SQLITE_DBCONFIG_ENABLE_QPSG in sqlite3.h.
#define EMPORIUM_DBCONFIG_ENABLE_QPSG 1007

int emporium_sqlite_enable_stable_plans(void *connection) {
    int enabled = 0;
    return sqlite_nio_sqlite3_db_config(connection, EMPORIUM_DBCONFIG_ENABLE_QPSG, 1, &enabled);
}
