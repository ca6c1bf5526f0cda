/*
 * ngsp masking profiles.  Every name in a selector is interned once, at
 * configuration time, into an open-addressing table; a tokenizer turns
 * each key into its id with one hash and (usually) one comparison, and a
 * rule lookup is then an index plus a short scan of Parent.Name rules.
 */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "ngsp_mask_profile.h"


typedef struct {
    ngsp_mask_name_t     parent;
    ngsp_mask_action_t   action;
} ngsp_mask_qual_t;


typedef struct {
    char                *name;
    size_t               len;
    uint64_t             w[2];          /* ngsp_mask_name_words() */
    uint32_t             hash;
    int                  has_bare;
    ngsp_mask_action_t   bare;          /* the Name rule */
    ngsp_mask_qual_t    *qual;          /* the Parent.Name rules */
    size_t               nqual;
} ngsp_mask_entry_t;


struct ngsp_mask_profile_s {
    ngsp_mask_entry_t   *names;         /* id - 1 */
    size_t               nnames;
    uint32_t            *table;         /* ids; 0 empty */
    size_t               mask;          /* table size - 1 */
    size_t               max_name;
    uint64_t             lens;          /* bit n: a name of n bytes (n<64) */
    uint64_t             sig[4];        /* bit ngsp_mask_name_sig() */
    ngsp_mask_kind_t     dflt;
    int                  uses_hash;
    char               **texts;         /* replace texts, owned */
    size_t               ntexts;
};


/*
 * A key is looked up for every member of every response, so it is read as
 * two words that together cover it: the first and last eight bytes (they
 * overlap below 16), the first and last four below 8, three bytes below 4.
 * Up to 16 bytes, equal words and lengths mean equal names, with no
 * memcmp; longer names are confirmed with memcmp.  The hash mixes the
 * words and the length.
 */
static inline void
ngsp_mask_name_words(const unsigned char *p, size_t len, uint64_t *w)
{
    uint32_t  a, b;

    if (len >= 8) {
        memcpy(&w[0], p, 8);
        memcpy(&w[1], p + len - 8, 8);

    } else if (len >= 4) {
        memcpy(&a, p, 4);
        memcpy(&b, p + len - 4, 4);
        w[0] = a;
        w[1] = b;

    } else {
        w[0] = len ? p[0] | p[len / 2] << 8 | p[len - 1] << 16 : 0;
        w[1] = 0;
    }
}


static inline uint32_t
ngsp_mask_name_hash(const uint64_t *w, size_t len)
{
    uint64_t  h;

    h = (w[0] * 0x9e3779b97f4a7c15ull) ^ (w[1] * 0xc2b2ae3d27d4eb4full)
        ^ len;

    return (uint32_t) (h >> 32) ^ (uint32_t) h;
}


ngsp_mask_profile_t *
ngsp_mask_profile_new(void)
{
    ngsp_mask_profile_t  *p;

    p = calloc(1, sizeof(ngsp_mask_profile_t));
    if (p == NULL) {
        return NULL;
    }

    p->table = calloc(16, sizeof(uint32_t));
    if (p->table == NULL) {
        free(p);
        return NULL;
    }

    p->mask = 15;
    p->dflt = NGSP_MASK_PASS;

    return p;
}


void
ngsp_mask_profile_free(ngsp_mask_profile_t *p)
{
    size_t  i;

    if (p == NULL) {
        return;
    }

    for (i = 0; i < p->nnames; i++) {
        free(p->names[i].name);
        free(p->names[i].qual);
    }

    for (i = 0; i < p->ntexts; i++) {
        free(p->texts[i]);
    }

    free(p->texts);
    free(p->names);
    free(p->table);
    free(p);
}


/*
 * The probe of ngsp_mask_profile_name() from slot i on, for a name longer
 * than its two words: memcmp confirms.  Apart, so that the common path
 * calls nothing (and saves no registers).
 */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static ngsp_mask_name_t
ngsp_mask_name_long(const ngsp_mask_profile_t *p, const unsigned char *name,
    size_t len, uint64_t w0, uint64_t w1, size_t i)
{
    uint32_t            id;
    ngsp_mask_entry_t  *e;

    for ( /* void */ ; (id = p->table[i]) != 0; i = (i + 1) & p->mask) {
        e = &p->names[id - 1];
        if (e->w[0] == w0 && e->w[1] == w1 && e->len == len
            && memcmp(e->name, name, len) == 0)
        {
            return id;
        }
    }

    return 0;
}


ngsp_mask_name_t
ngsp_mask_profile_name(const ngsp_mask_profile_t *p,
    const unsigned char *name, size_t len)
{
    uint32_t  h;

    /* most keys are no rule's name: a length no name has says so at once */
    if (len > p->max_name || !(p->lens >> (len < 64 ? len : 63) & 1)) {
        return 0;
    }

    h = ngsp_mask_name_sig(name, len);

    if (!(p->sig[h >> 6] >> (h & 63) & 1)) {
        return 0;
    }

    return ngsp_mask_profile_lookup(p, name, len);
}


ngsp_mask_name_t
ngsp_mask_profile_lookup(const ngsp_mask_profile_t *p,
    const unsigned char *name, size_t len)
{
    size_t              i;
    uint32_t            h, id;
    uint64_t            w[2];
    ngsp_mask_entry_t  *e;

    ngsp_mask_name_words(name, len, w);
    h = ngsp_mask_name_hash(w, len);

    for (i = h & p->mask; (id = p->table[i]) != 0; i = (i + 1) & p->mask) {
        e = &p->names[id - 1];
        if (e->w[0] == w[0] && e->w[1] == w[1] && e->len == len) {
            return len <= 16 ? id : ngsp_mask_name_long(p, name, len, w[0],
                                                        w[1], i);
        }
    }

    return 0;
}


static int
ngsp_mask_grow(ngsp_mask_profile_t *p)
{
    size_t     size, i, j;
    uint32_t  *table;

    size = (p->mask + 1) * 2;

    table = calloc(size, sizeof(uint32_t));
    if (table == NULL) {
        return -1;
    }

    for (i = 0; i < p->nnames; i++) {
        for (j = p->names[i].hash & (size - 1); table[j];
             j = (j + 1) & (size - 1))
        {
            /* void */
        }
        table[j] = (uint32_t) i + 1;
    }

    free(p->table);
    p->table = table;
    p->mask = size - 1;

    return 0;
}


/* the id of name, interned if new; 0 when out of memory */
static ngsp_mask_name_t
ngsp_mask_intern(ngsp_mask_profile_t *p, const char *name, size_t len)
{
    size_t              i, max;
    uint64_t            lens, sig[4];
    ngsp_mask_name_t    id;
    ngsp_mask_entry_t  *names, *e;

    max = p->max_name;
    lens = p->lens;
    memcpy(sig, p->sig, sizeof(sig));
    p->max_name = (size_t) -1;
    p->lens = (uint64_t) -1;
    memset(p->sig, 0xff, sizeof(sig));
    id = ngsp_mask_profile_name(p, (const unsigned char *) name, len);
    p->max_name = max;
    p->lens = lens;
    memcpy(p->sig, sig, sizeof(sig));

    if (id) {
        return id;
    }

    /* at most a quarter full: most keys are misses, which probe on to an
     * empty slot */
    if ((p->nnames + 1) * 4 > p->mask + 1 && ngsp_mask_grow(p) != 0) {
        return 0;
    }

    names = realloc(p->names, (p->nnames + 1) * sizeof(ngsp_mask_entry_t));
    if (names == NULL) {
        return 0;
    }

    p->names = names;
    e = &names[p->nnames];
    memset(e, 0, sizeof(ngsp_mask_entry_t));

    e->name = malloc(len + 1);
    if (e->name == NULL) {
        return 0;
    }

    memcpy(e->name, name, len);
    e->name[len] = '\0';
    e->len = len;
    ngsp_mask_name_words((const unsigned char *) name, len, e->w);
    e->hash = ngsp_mask_name_hash(e->w, len);

    id = (ngsp_mask_name_t) ++p->nnames;

    for (i = e->hash & p->mask; p->table[i]; i = (i + 1) & p->mask) {
        /* void */
    }

    p->table[i] = id;

    if (len > p->max_name) {
        p->max_name = len;
    }

    p->lens |= (uint64_t) 1 << (len < 64 ? len : 63);
    i = ngsp_mask_name_sig((const unsigned char *) name, len);
    p->sig[i >> 6] |= (uint64_t) 1 << (i & 63);

    return id;
}


static int
ngsp_mask_name_ok(const char *s, size_t len, int attr_ok)
{
    size_t  i;

    if (len == 0 || (s[0] == '@' && (!attr_ok || len == 1))) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] == '.' || (i && s[i] == '@')) {
            return 0;
        }
    }

    return 1;
}


int
ngsp_mask_profile_add(ngsp_mask_profile_t *p, const char *selector,
    size_t len, const ngsp_mask_action_t *a, char *err, size_t errlen)
{
    char                 *text, **texts;
    size_t                i;
    const char           *dot;
    ngsp_mask_qual_t     *q;
    ngsp_mask_name_t      parent, name;
    ngsp_mask_entry_t    *e;
    ngsp_mask_action_t    action;

    dot = memchr(selector, '.', len);

    if (dot) {
        if (!ngsp_mask_name_ok(selector, dot - selector, 0)
            || !ngsp_mask_name_ok(dot + 1, selector + len - dot - 1, 1))
        {
            goto invalid;
        }

    } else if (!ngsp_mask_name_ok(selector, len, 1)) {
        goto invalid;
    }

    action = *a;

    if (a->kind == NGSP_MASK_REPLACE) {
        texts = realloc(p->texts, (p->ntexts + 1) * sizeof(char *));
        if (texts == NULL) {
            goto nomem;
        }
        p->texts = texts;

        text = malloc(a->text_len + 1);
        if (text == NULL) {
            goto nomem;
        }

        memcpy(text, a->text, a->text_len);
        text[a->text_len] = '\0';
        p->texts[p->ntexts++] = text;
        action.text = text;
    }

    if (dot) {
        parent = ngsp_mask_intern(p, selector, dot - selector);
        name = ngsp_mask_intern(p, dot + 1, selector + len - dot - 1);
    } else {
        parent = 0;
        name = ngsp_mask_intern(p, selector, len);
    }

    if (name == 0 || (dot && parent == 0)) {
        goto nomem;
    }

    e = &p->names[name - 1];

    if (parent == 0) {
        if (e->has_bare) {
            goto duplicate;
        }
        e->has_bare = 1;
        e->bare = action;

    } else {
        for (i = 0; i < e->nqual; i++) {
            if (e->qual[i].parent == parent) {
                goto duplicate;
            }
        }

        q = realloc(e->qual, (e->nqual + 1) * sizeof(ngsp_mask_qual_t));
        if (q == NULL) {
            goto nomem;
        }

        e->qual = q;
        q[e->nqual].parent = parent;
        q[e->nqual].action = action;
        e->nqual++;
    }

    if (a->kind == NGSP_MASK_HASH) {
        p->uses_hash = 1;
    }

    return 0;

invalid:

    snprintf(err, errlen, "invalid selector \"%.*s\" (Name, Parent.Name, "
             "@Attribute, Parent.@Attribute)", (int) len, selector);
    return -1;

duplicate:

    snprintf(err, errlen, "selector \"%.*s\" given twice", (int) len,
             selector);
    return -1;

nomem:

    snprintf(err, errlen, "out of memory");
    return -1;
}


void
ngsp_mask_profile_set_default(ngsp_mask_profile_t *p, ngsp_mask_kind_t kind)
{
    p->dflt = kind;
}


ngsp_mask_kind_t
ngsp_mask_profile_default(const ngsp_mask_profile_t *p)
{
    return p->dflt;
}


int
ngsp_mask_profile_uses_hash(const ngsp_mask_profile_t *p)
{
    return p->uses_hash;
}


uint64_t
ngsp_mask_profile_lengths(const ngsp_mask_profile_t *p)
{
    return p->lens;
}


void
ngsp_mask_profile_filter(const ngsp_mask_profile_t *p,
    ngsp_mask_name_filter_t *f)
{
    f->lens = p->lens;
    memcpy(f->sig, p->sig, sizeof(f->sig));
}


size_t
ngsp_mask_profile_max_name(const ngsp_mask_profile_t *p)
{
    return p->max_name;
}


const ngsp_mask_action_t *
ngsp_mask_profile_rule(const ngsp_mask_profile_t *p, ngsp_mask_name_t parent,
    ngsp_mask_name_t name)
{
    size_t              i;
    ngsp_mask_entry_t  *e;

    if (name == 0) {
        return NULL;
    }

    e = &p->names[name - 1];

    if (parent) {
        for (i = 0; i < e->nqual; i++) {
            if (e->qual[i].parent == parent) {
                return &e->qual[i].action;
            }
        }
    }

    return e->has_bare ? &e->bare : NULL;
}
