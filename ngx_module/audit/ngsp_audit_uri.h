/*
 * ngsp audit URI: a request URI with its identifiers pseudonymised.
 * Query arguments named in the rules and the capture groups of path
 * patterns are replaced by the keyed HMAC-SHA256 of their decoded text,
 * in the format of the masking engine's hash action (64 lowercase hex
 * digits), so one citizen maps to one value in audit records and in
 * masked bodies.  Plain C: the regular expressions are matched through a
 * callback and memory comes from the caller's allocator (a pool).
 */

#ifndef NGSP_AUDIT_URI_H
#define NGSP_AUDIT_URI_H

#include <stddef.h>

#include "ngsp_mask_action.h"


/* the length of one pseudonym (the hash action's hex digest) */
#define NGSP_AUDIT_HASH_LEN  64


/*
 * Matches a compiled pattern against s[0..len).  caps holds 2 * ncaps
 * ints: the start and end of the whole match, then of each group (-1
 * for a group that did not take part).  Returns the number of pairs set
 * (at least 1) on a match, 0 when there is none, -1 on an error.
 */
typedef int (*ngsp_audit_match_pt)(void *re, const unsigned char *s,
    size_t len, int *caps, size_t ncaps);

typedef struct {
    void                   *re;
    ngsp_audit_match_pt     match;
    size_t                  captures;     /* groups in the pattern */
} ngsp_audit_pattern_t;

typedef struct {
    const unsigned char    *data;         /* an argument name, decoded */
    size_t                  len;
} ngsp_audit_str_t;

typedef struct {
    const ngsp_audit_pattern_t  *patterns;
    size_t                       npatterns;
    const ngsp_audit_str_t      *args;    /* matched without regard to */
    size_t                       nargs;   /* ASCII case */
    const ngsp_mask_key_t       *key;     /* NULL: "***" for each value */
} ngsp_audit_rules_t;


/* one value replaced: its decoded and raw text, and the pseudonym */
typedef struct {
    const unsigned char    *dec;
    size_t                  dec_len;
    const unsigned char    *raw;          /* as it is in the URI */
    size_t                  raw_len;
    const unsigned char    *hash;
    size_t                  hash_len;
} ngsp_audit_id_t;

typedef struct {
    unsigned char          *data;         /* the pseudonymised URI */
    size_t                  len;
    ngsp_audit_id_t        *ids;          /* each value replaced */
    size_t                  nids;
} ngsp_audit_result_t;


/*
 * Memory aligned for any type, that lives as long as the caller needs
 * the result; NULL: none.
 */
typedef void *(*ngsp_audit_alloc_pt)(void *pool, size_t size);


/*
 * Pseudonymises uri[0..len) ("/path?query").  The path is matched
 * percent-decoded (not otherwise normalised) by every pattern; each
 * non-empty capture of a pattern's first match is replaced, overlapping
 * captures as one.  In the query (split on '&'), an argument whose name
 * decodes (percent escapes and '+') to a rule's name has its non-empty
 * value replaced, every occurrence.  What is not replaced is copied as
 * it is, escapes included.  0 on success, -1 when memory or a match
 * fails.
 */
int ngsp_audit_uri(const ngsp_audit_rules_t *rules, const unsigned char *uri,
    size_t len, ngsp_audit_alloc_pt alloc, void *pool,
    ngsp_audit_result_t *res);

/*
 * Replaces in s[0..len) every occurrence of a value of ids, in its
 * decoded or its raw form, by its pseudonym: for text that carries the
 * URI in another shape (the URI sent upstream, the URI after a rewrite).
 * The longest wins at each place, and a pseudonym already there stays
 * whole.  0 on success (out, out_len set), -1 on no memory.
 */
int ngsp_audit_scrub(const ngsp_audit_id_t *ids, size_t nids,
    const unsigned char *s, size_t len, ngsp_audit_alloc_pt alloc, void *pool,
    unsigned char **out, size_t *out_len);

/*
 * Decodes percent escapes of in[0..len) into out (len bytes at most);
 * with plus, '+' becomes a space.  A '%' not followed by two hex digits
 * stays as it is.  When map is not NULL, map[i] is the offset in in of
 * the byte that gave out[i], and map[n] is len.  Returns n.
 */
size_t ngsp_audit_decode(const unsigned char *in, size_t len, int plus,
    unsigned char *out, size_t *map);

#endif /* NGSP_AUDIT_URI_H */
