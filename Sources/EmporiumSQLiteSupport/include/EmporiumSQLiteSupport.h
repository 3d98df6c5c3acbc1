#ifndef EMPORIUM_SQLITE_SUPPORT_H
#define EMPORIUM_SQLITE_SUPPORT_H

/// SQLite's connection settings are set through a C variadic function, which Swift cannot
/// call; these take the place of those calls. `connection` is the `sqlite3 *` handle.

/// Turns on the query planner stability guarantee: plans never depend on the values bound,
/// so a cached statement is not prepared again each time another value is bound to a
/// parameter that SQLite compared with a constant while planning. Returns an SQLite result
/// code.
int emporium_sqlite_enable_stable_plans(void *connection);

#endif
