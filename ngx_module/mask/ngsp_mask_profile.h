/*
 * ngsp masking profiles: rules (selector -> action) and a default (pass,
 * or remove for allow-list mode).  Independent of the document syntax: a
 * tokenizer interns each key (JSON member name, XML local name, "@attr")
 * with ngsp_mask_profile_name() and asks ngsp_mask_profile_rule() what
 * applies, given the enclosing key's id.  Both are allocation-free.
 *
 * Selectors:  Name         that key at any depth
 *             Parent.Name  Name whose enclosing key is Parent (array
 *                          levels do not count; the tokenizer passes the
 *                          enclosing key's id through arrays)
 * The more specific rule (Parent.Name) wins over Name.  A name beginning
 * with '@' is an XML attribute; JSON never produces one.
 */

#ifndef NGSP_MASK_PROFILE_H
#define NGSP_MASK_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ngsp_mask_action.h"


typedef struct ngsp_mask_profile_s  ngsp_mask_profile_t;

/* 0: a name no selector mentions */
typedef uint32_t  ngsp_mask_name_t;


ngsp_mask_profile_t *ngsp_mask_profile_new(void);
void ngsp_mask_profile_free(ngsp_mask_profile_t *p);

/*
 * Adds a rule.  The action is copied (a replace text is copied too).
 * 0 on success, -1 with a message in err: bad selector, or a selector
 * given twice.
 */
int ngsp_mask_profile_add(ngsp_mask_profile_t *p, const char *selector,
    size_t len, const ngsp_mask_action_t *a, char *err, size_t errlen);

/* default: NGSP_MASK_PASS (the initial value) or NGSP_MASK_REMOVE */
void ngsp_mask_profile_set_default(ngsp_mask_profile_t *p,
    ngsp_mask_kind_t kind);
ngsp_mask_kind_t ngsp_mask_profile_default(const ngsp_mask_profile_t *p);

/* 1 if any rule uses the hash action (then a key must be configured) */
int ngsp_mask_profile_uses_hash(const ngsp_mask_profile_t *p);

/* longest name in any selector: a longer key is never a rule name */
size_t ngsp_mask_profile_max_name(const ngsp_mask_profile_t *p);

/*
 * Bit n set when some selector name is n bytes long (n < 64; bit 63 also
 * stands for every longer length): a key of a length not set has id 0,
 * which a tokenizer can tell without a call.
 */
uint64_t ngsp_mask_profile_lengths(const ngsp_mask_profile_t *p);

/* the id of a (decoded) key, 0 when no selector names it */
ngsp_mask_name_t ngsp_mask_profile_name(const ngsp_mask_profile_t *p,
    const unsigned char *name, size_t len);

/*
 * What ngsp_mask_profile_name() tests before it hashes, for a tokenizer
 * to test inline: most keys of a response are no rule's name, and a call
 * costs more than the test.
 */
typedef struct {
    uint64_t                    lens;       /* ngsp_mask_profile_lengths() */
    uint64_t                    sig[4];     /* ngsp_mask_name_sig() bits */
} ngsp_mask_name_filter_t;

void ngsp_mask_profile_filter(const ngsp_mask_profile_t *p,
    ngsp_mask_name_filter_t *f);

/*
 * A byte from a name's length and first and last bytes (len > 0): a key
 * whose signature no name has is no name, told without hashing (many
 * keys share a length with a name).
 */
static inline unsigned
ngsp_mask_name_sig(const unsigned char *p, size_t len)
{
    return (p[0] + p[len - 1] * 7u + (unsigned) len * 29u) & 255;
}

/*
 * ngsp_mask_profile_name() past those tests, for a caller that made them
 * with ngsp_mask_name_may_be(): the same id for any key
 */
ngsp_mask_name_t ngsp_mask_profile_lookup(const ngsp_mask_profile_t *p,
    const unsigned char *name, size_t len);

/* 0: the key [name, name + len) has id 0; 1: ask ngsp_mask_profile_name() */
static inline int
ngsp_mask_name_may_be(const ngsp_mask_name_filter_t *f,
    const unsigned char *name, size_t len)
{
    unsigned  h;

    if (!(f->lens >> (len < 64 ? len : 63) & 1)) {
        return 0;
    }

    if (len == 0) {
        return 1;
    }

    h = ngsp_mask_name_sig(name, len);

    return f->sig[h >> 6] >> (h & 63) & 1;
}

/*
 * The rule for the key `name` whose enclosing key is `parent` (0 at top
 * level or when unnamed): Parent.Name, else Name, else NULL.
 */
const ngsp_mask_action_t *ngsp_mask_profile_rule(
    const ngsp_mask_profile_t *p, ngsp_mask_name_t parent,
    ngsp_mask_name_t name);

#endif /* NGSP_MASK_PROFILE_H */
