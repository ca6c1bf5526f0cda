/* Helpers of the audit URI tests and fuzzer. */

#include <stdlib.h>
#include <string.h>

#include "audit_util.h"


void *
audit_alloc(void *arena, size_t size)
{
    void           *p, **b;
    audit_arena_t  *a = arena;

    if (a->n == a->cap) {
        b = realloc(a->blocks, (a->cap * 2 + 8) * sizeof(void *));
        if (b == NULL) {
            return NULL;
        }
        a->blocks = b;
        a->cap = a->cap * 2 + 8;
    }

    /* at least one byte, so that a zero-size request is not NULL */
    p = malloc(size ? size : 1);
    if (p) {
        a->blocks[a->n++] = p;
    }

    return p;
}


void
audit_arena_free(audit_arena_t *a)
{
    size_t  i;

    for (i = 0; i < a->n; i++) {
        free(a->blocks[i]);
    }

    free(a->blocks);
    memset(a, 0, sizeof(audit_arena_t));
}


static int
audit_match(void *re, const unsigned char *s, size_t len, int *caps,
    size_t ncaps)
{
    int          rc;
    char        *z;
    size_t       i;
    regmatch_t   m[16];

    if (ncaps > 16) {
        return -1;
    }

    /*
     * REG_STARTEND: the subject is s[0..len), NUL bytes included; the
     * copy ends with a NUL for sanitizers that read it as a C string
     */
    z = malloc(len + 1);
    if (z == NULL) {
        return -1;
    }

    memcpy(z, s, len);
    z[len] = '\0';

    m[0].rm_so = 0;
    m[0].rm_eo = len;

    rc = regexec(re, z, ncaps, m, REG_STARTEND);
    free(z);
    if (rc == REG_NOMATCH) {
        return 0;
    }

    if (rc != 0) {
        return -1;
    }

    for (i = 0; i < ncaps; i++) {
        caps[2 * i] = m[i].rm_so;
        caps[2 * i + 1] = m[i].rm_eo;
    }

    return ncaps;
}


int
audit_pattern(ngsp_audit_pattern_t *p, regex_t *re, const char *expr)
{
    if (regcomp(re, expr, REG_EXTENDED) != 0) {
        return -1;
    }

    p->re = re;
    p->match = audit_match;
    p->captures = re->re_nsub;

    return 0;
}
