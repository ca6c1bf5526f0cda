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
 * The rule for the key `name` whose enclosing key is `parent` (0 at top
 * level or when unnamed): Parent.Name, else Name, else NULL.
 */
const ngsp_mask_action_t *ngsp_mask_profile_rule(
    const ngsp_mask_profile_t *p, ngsp_mask_name_t parent,
    ngsp_mask_name_t name);

#endif /* NGSP_MASK_PROFILE_H */
