/*
 * Helpers of the audit URI tests and fuzzer: an arena for the engine's
 * allocations and POSIX extended regular expressions as its matcher (an
 * independent engine from the PCRE that nginx uses).
 */

#ifndef AUDIT_UTIL_H
#define AUDIT_UTIL_H

#include <regex.h>

#include "ngsp_audit_uri.h"


/* every block the engine asked for, freed at once */
typedef struct {
    void   **blocks;
    size_t   n;
    size_t   cap;
} audit_arena_t;

void *audit_alloc(void *arena, size_t size);
void audit_arena_free(audit_arena_t *a);

/* a pattern compiled with regcomp(REG_EXTENDED); 0 on success */
int audit_pattern(ngsp_audit_pattern_t *p, regex_t *re, const char *expr);

#endif /* AUDIT_UTIL_H */
