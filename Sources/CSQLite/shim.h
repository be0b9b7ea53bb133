#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro Swift cannot import: "copy the bound value before returning".
static inline sqlite3_destructor_type rummage_sqlite_transient(void) { return SQLITE_TRANSIENT; }
