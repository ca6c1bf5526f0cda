/*
 * ngsp masking actions: what becomes of one value.  Independent of JSON
 * and XML: a tokenizer hands over the decoded text of a scalar and writes
 * the result back in its own syntax (escaped).  Characters are Unicode
 * code points; the output is always valid UTF-8 (invalid input bytes
 * count as one character each and come out as U+FFFD when kept).
 */

#ifndef NGSP_MASK_ACTION_H
#define NGSP_MASK_ACTION_H

#include <stddef.h>


typedef enum {
    NGSP_MASK_PASS = 0,
    NGSP_MASK_REMOVE,       /* key and value gone (tokenizer's job) */
    NGSP_MASK_REDACT,       /* "***", a container taken whole */
    NGSP_MASK_KEEP_FIRST,   /* first n characters kept, others '*' */
    NGSP_MASK_KEEP_LAST,    /* last n characters kept, others '*' */
    NGSP_MASK_INITIALS,     /* "Nguyễn Văn An" -> "N. V. A." */
    NGSP_MASK_YEAR,         /* "1990-05-17", "17/05/1990", "19900517" */
    NGSP_MASK_EMAIL,        /* "an.nguyen@example.vn" -> "a***@example.vn" */
    NGSP_MASK_HASH,         /* HMAC-SHA256 under the key, lowercase hex */
    NGSP_MASK_REPLACE,      /* a fixed text */
    NGSP_MASK_XML           /* a JSON string holding an XML document: that
                             * document masked with the same profile (the
                             * JSON rewriter's job); elsewhere "***" */
} ngsp_mask_kind_t;


typedef struct {
    ngsp_mask_kind_t   kind;
    size_t             n;           /* keep_first, keep_last */
    const char        *text;        /* replace: valid UTF-8, not owned */
    size_t             text_len;
} ngsp_mask_action_t;


/* the HMAC key of the hash action, keyed once */
typedef struct ngsp_mask_key_s  ngsp_mask_key_t;

ngsp_mask_key_t *ngsp_mask_key_new(const unsigned char *key, size_t len);
void ngsp_mask_key_free(ngsp_mask_key_t *key);


/*
 * Parses "keep_last=4", "initials", "replace=TEXT", ...  For replace,
 * a->text points into spec (the caller keeps it alive).  0 on success,
 * -1 with a message in err.
 */
int ngsp_mask_action_parse(ngsp_mask_action_t *a, const char *spec,
    size_t len, char *err, size_t errlen);

/* the most bytes ngsp_mask_action_apply() writes for len input bytes */
size_t ngsp_mask_action_out_max(const ngsp_mask_action_t *a, size_t len);

/*
 * Applies a string action to the decoded value in[0..len).  Writes at
 * most ngsp_mask_action_out_max() bytes of valid UTF-8 to out and returns
 * their number.  key is needed only by hash (NULL there: "***").
 */
size_t ngsp_mask_action_apply(const ngsp_mask_action_t *a,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    unsigned char *out);

#endif /* NGSP_MASK_ACTION_H */
