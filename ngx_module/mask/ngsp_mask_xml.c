/*
 * ngsp streaming XML rewriter.
 *
 * Hand-written rather than built on libxml2: its push parser expands
 * entities, allocates per node and hands back decoded strings, never
 * spans of the caller's buffer, so it could neither forward unchanged
 * bytes without copying nor bound memory by the nesting depth.  This is
 * one pushdown state machine over the bytes as they arrive.
 *
 * Output is a "run": an open span of the current input that goes out
 * unchanged.  Masking cuts the run, writes its own bytes (staged) and
 * opens a new run after the masked part.  Two things cannot be decided
 * where they start, so their bytes are held back:
 *
 *   - a tentative stretch: a '<' until we know what follows it (a comment
 *     or processing instruction is dropped, a start tag is decided by its
 *     name), or an attribute from the blank before it until its name is
 *     known.  Within one feed it stays in the run; when a feed ends, the
 *     run is delivered up to it and its bytes are copied to pend.
 *   - a held element: in allow-list mode an element no rule names is
 *     removed if it turns out to hold text and kept if it holds elements
 *     or nothing, so its start tag (and the blanks after it) go to pend
 *     until its content shows which.
 *
 * Either way the bytes that finally go out are the same however the input
 * was cut; only whether they are forwarded or copied differs.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_out.h"
#include "ngsp_mask_xml.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif


#define NGSP_XML_REF_MAX         16
#define NGSP_XML_CACHE_BITS      7
#define NGSP_XML_CACHE           (1 << NGSP_XML_CACHE_BITS)  /* sets of 2 */
#define NGSP_XML_CACHE_NAME      32        /* a multiple of 8 */
#define NGSP_XML_SLACK           16        /* after names, for word reads */


typedef enum {
    X_START = 0,        /* first byte: a BOM or anything else */
    X_BOM,
    X_TEXT,             /* character data, or blanks outside the root */
    X_REF,              /* after '&' */
    X_LT,               /* after '<' */
    X_BANG,             /* after "<!" */
    X_BANG_DASH,        /* after "<!-" */
    X_COMMENT,
    X_CDATA_OPEN,       /* after "<![" */
    X_CDATA,
    X_PI_TARGET,        /* after "<?" */
    X_PI,
    X_STAG_NAME,
    X_STAG,             /* inside a start tag, after the name or a value */
    X_STAG_SLASH,       /* after '/' in a start tag */
    X_ATTR_NAME,
    X_ATTR_EQ,
    X_ATTR_QUOTE,
    X_ATTR_VAL,
    X_ETAG_NAME,
    X_ETAG_END,
    X_ERROR
} ngsp_xml_state_t;


/* what becomes of the text directly inside an element */
typedef enum {
    T_PASS = 0,
    T_MASK,             /* decoded, rewritten by the element's action */
    T_DROP,             /* allow-list container: blanks stay, text goes */
    T_HELD,             /* allow-list, undecided: text removes the element */
    T_SKIP,             /* removed or redacted */
    T_PROLOG            /* outside the root: blanks only */
} ngsp_xml_tdisp_t;


/* the text node being read */
typedef enum {
    M_LIVE = 0,         /* its bytes are in the run */
    M_DECODE,           /* decoded into buf */
    M_SKIP
} ngsp_xml_mode_t;


/* the attribute being read */
typedef enum {
    A_KEEP = 0,
    A_SKIP,
    A_REDACT,
    A_MASK
} ngsp_xml_adisp_t;


typedef struct {
    size_t                      name_off;   /* qualified name in names */
    size_t                      name_len;
    ngsp_mask_name_t            id;         /* of the local name */
    const ngsp_mask_action_t   *act;        /* own or inherited, or NULL */
    unsigned char               out;        /* its tags go out (or held) */
    unsigned char               kids;       /* its children may go out */
    unsigned char               tdisp;
    unsigned char               held;
    unsigned char               redact;
} ngsp_xml_frame_t;


/* a qualified element name and the id of its local name */
typedef struct {
    uint32_t                    len;
    ngsp_mask_name_t            id;
    unsigned char               name[NGSP_XML_CACHE_NAME];
} ngsp_xml_cached_t;


typedef struct {
    ngsp_mask_body_t            body;       /* first: what is shared */

    ngsp_xml_state_t            state;

    ngsp_xml_frame_t           *cur;        /* the innermost, or NULL */
    size_t                      depth;
    unsigned char              *names;
    size_t                      names_len;
    size_t                      names_cap;

    ngsp_xml_mode_t             mode;
    ngsp_xml_tdisp_t            tdisp;      /* of the current text node */
    ngsp_xml_adisp_t            adisp;
    const ngsp_mask_action_t   *aact;
    ngsp_xml_state_t            ref_ret;
    size_t                      ref_len;
    unsigned char               ref[NGSP_XML_REF_MAX];
    size_t                      k;          /* per-state counter */
    size_t                      tlen;       /* of the text or attribute
                                               value being read, decoded */
    size_t                      blanks;     /* in a row, inside a tag */
    unsigned char               quote;
    unsigned char               target[4];  /* of a processing instruction */

    /* flags are bytes, not bit-fields: they change at every tag */
    unsigned char               ws_seen;    /* blank after name or value */
    unsigned char               at_start;   /* nothing but a BOM yet */
    unsigned char               decl;       /* in the XML declaration */
    unsigned char               root_seen;
    unsigned char               root_done;

    /* the body's buf: decoded text, names, decl; its pend: held and
     * carried bytes */

    /* output */
    const unsigned char        *run;        /* open input span, or NULL */
    const unsigned char        *tent;       /* tentative start, this feed */
    size_t                      tent_pend;  /* or in pend, from here */
    unsigned char               tact;       /* a tentative stretch is open */
    unsigned char               held;       /* output goes to pend */
    unsigned char               resume;     /* run open across feeds */

    /* the same few element names come again and again */
    ngsp_xml_cached_t           cache[NGSP_XML_CACHE][2];

    ngsp_xml_frame_t            frames[];   /* max_depth of them */
} ngsp_mask_xml_t;


/* character classes */
#define C_WS         0x01
#define C_NSTART     0x02       /* may start a name */
#define C_NAME       0x04       /* may be inside a name */
#define C_TSTOP      0x08       /* ends a run of text: '<', '&' */
#define C_ASTOP      0x10       /* ends a run of attribute value */
#define C_ESC_TEXT   0x20       /* escaped in text */
#define C_ESC_ATTR   0x40       /* escaped in an attribute value */

#define C_NS         (C_NSTART | C_NAME)
#define C_MARKUP     (C_TSTOP | C_ASTOP | C_ESC_TEXT | C_ESC_ATTR)

/* constant (GNU range designators): nothing is built at run time */
static const unsigned char  ngsp_xml_class[256] = {
    ['a' ... 'z'] = C_NS, ['A' ... 'Z'] = C_NS, ['_'] = C_NS, [':'] = C_NS,
    [0x80 ... 0xff] = C_NS,
    ['0' ... '9'] = C_NAME, ['-'] = C_NAME, ['.'] = C_NAME,
    [' '] = C_WS,
    ['\t'] = C_WS | C_ESC_ATTR,
    ['\n'] = C_WS | C_ESC_ATTR,
    ['\r'] = C_WS | C_ESC_TEXT | C_ESC_ATTR,
    ['<'] = C_MARKUP, ['&'] = C_MARKUP,
    ['"'] = C_ASTOP | C_ESC_ATTR, ['\''] = C_ASTOP | C_ESC_ATTR,
    ['>'] = C_ESC_TEXT | C_ESC_ATTR
};


/*
 * Word at a time: element names repeat, and a call to memcmp or memcpy
 * costs more than the two or three words of a name; most text runs
 * (indentation, identifiers) are a word or two long.
 */

#define NGSP_XML_ONES  0x0101010101010101ULL
#define NGSP_XML_HIGH  0x8080808080808080ULL

/* the per-element steps, inlined into the state machine whatever its size */
#if defined(__GNUC__)
#define NGSP_XML_HOT  inline __attribute__((always_inline))
#else
#define NGSP_XML_HOT  inline
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NGSP_XML_LE  1
#endif


static inline uint64_t
ngsp_xml_word(const unsigned char *p)
{
    uint64_t  w;

    memcpy(&w, p, 8);

    return w;
}


/* some byte of w is '<' or '&' */
static inline uint64_t
ngsp_xml_tstop(uint64_t w)
{
    uint64_t  a, b;

    a = w ^ (NGSP_XML_ONES * '<');
    b = w ^ (NGSP_XML_ONES * '&');

    return (((a - NGSP_XML_ONES) & ~a) | ((b - NGSP_XML_ONES) & ~b))
           & NGSP_XML_HIGH;
}


/* some byte of w is escaped in text: '<', '>', '&' or CR */
static inline uint64_t
ngsp_xml_esc_text(uint64_t w)
{
    uint64_t  a, b, c, d;

    a = w ^ (NGSP_XML_ONES * '<');
    b = w ^ (NGSP_XML_ONES * '>');
    c = w ^ (NGSP_XML_ONES * '&');
    d = w ^ (NGSP_XML_ONES * '\r');

    return (((a - NGSP_XML_ONES) & ~a) | ((b - NGSP_XML_ONES) & ~b)
            | ((c - NGSP_XML_ONES) & ~c) | ((d - NGSP_XML_ONES) & ~d))
           & NGSP_XML_HIGH;
}


/* the first '<' or '&' in [p, end), or end */
static inline const unsigned char *
ngsp_xml_text_scan(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
    int       m;
    __m128i   v;
#endif
#if defined(NGSP_XML_LE) && defined(__GNUC__)
    uint64_t  w;
#endif

#if defined(__SSE2__) && defined(__GNUC__)
    /* most text runs (a value, the indentation) end within 16 bytes */
    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        m = _mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('<')),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8('&'))));
        if (m) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

#if defined(NGSP_XML_LE) && defined(__GNUC__)
    while (end - p >= 8) {
        w = ngsp_xml_tstop(ngsp_xml_word(p));

        if (w) {
            /* the lowest flag is exact: a false one only follows a true */
            return p + (__builtin_ctzll(w) >> 3);
        }

        p += 8;
    }
#endif

    while (p < end && !(ngsp_xml_class[*p] & C_TSTOP)) {
        p++;
    }

    return p;
}


/* the first byte in [p, end) that is not a blank, or end */
static inline const unsigned char *
ngsp_xml_blank_scan(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
    int       m;
    __m128i   v, ws;

    /* indentation, in allow-list mode where only blanks may pass */
    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        ws = _mm_or_si128(
                 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                 _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\t')),
                              _mm_cmpeq_epi8(v, _mm_set1_epi8('\r'))));

        m = ~_mm_movemask_epi8(ws) & 0xffff;
        if (m) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    while (p < end && (ngsp_xml_class[*p] & C_WS)) {
        p++;
    }

    return p;
}


/* the first byte in [p, end) that a name cannot hold (C_NAME), or end */
static inline const unsigned char *
ngsp_xml_name_scan(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__) && defined(__GNUC__)
    int       m;
    __m128i   v, bad;

    /*
     * Sixteen at a time, by ranges: bytes are signed here, so 0x80-0xff
     * (all allowed) are below zero; refused are 0x00-0x2c, '/', 0x3b-0x40,
     * 0x5b-0x5e, '`' and 0x7b-0x7f.
     */
    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);

        bad = _mm_andnot_si128(_mm_cmplt_epi8(v, _mm_setzero_si128()),
                               _mm_cmplt_epi8(v, _mm_set1_epi8(0x2d)));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('/')));
        bad = _mm_or_si128(bad, _mm_cmpeq_epi8(v, _mm_set1_epi8('`')));
        bad = _mm_or_si128(bad,
                  _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x3a)),
                                _mm_cmplt_epi8(v, _mm_set1_epi8(0x41))));
        bad = _mm_or_si128(bad,
                  _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8(0x5a)),
                                _mm_cmplt_epi8(v, _mm_set1_epi8(0x5f))));
        bad = _mm_or_si128(bad, _mm_cmpgt_epi8(v, _mm_set1_epi8(0x7a)));

        m = _mm_movemask_epi8(bad);
        if (m) {
            return p + __builtin_ctz(m);
        }

        p += 16;
    }
#endif

    /* four at a time: names are seldom short */
    while (end - p >= 4
           && (ngsp_xml_class[p[0]] & ngsp_xml_class[p[1]]
               & ngsp_xml_class[p[2]] & ngsp_xml_class[p[3]] & C_NAME))
    {
        p += 4;
    }

    while (p < end && (ngsp_xml_class[*p] & C_NAME)) {
        p++;
    }

    return p;
}


/* a[0..n) equals b[0..n); both readable up to n rounded up to 8 */
static inline int
ngsp_xml_eq(const unsigned char *a, const unsigned char *b, size_t n)
{
#ifdef NGSP_XML_LE
    if (n == 0) {
        return 1;
    }

    for ( /* void */ ; n > 8; n -= 8, a += 8, b += 8) {
        if (ngsp_xml_word(a) != ngsp_xml_word(b)) {
            return 0;
        }
    }

    /* the first n bytes are the low ones */
    return ((ngsp_xml_word(a) ^ ngsp_xml_word(b)) << (8 * (8 - n))) == 0;
#else
    return memcmp(a, b, n) == 0;
#endif
}


/* where an element name of 1 to NGSP_XML_CACHE_NAME bytes is remembered;
 * name is readable up to its length rounded up to 8 */
static inline size_t
ngsp_xml_cache_slot(const unsigned char *name, size_t len)
{
#ifdef NGSP_XML_LE
    uint64_t  w;

    /* the first word and the last: all of most names, which share their
     * prefix ("dc:") and often their length */
    w = ngsp_xml_word(name);

    if (len < 8) {
        w &= ((uint64_t) 1 << (8 * len)) - 1;

    } else {
        w ^= ngsp_xml_word(name + len - 8) * 31;
    }

    return ((w + len) * 0x9e3779b97f4a7c15ULL) >> (64 - NGSP_XML_CACHE_BITS);
#else
    return (len + name[0] + 3 * name[len / 2] + 5 * name[len - 1])
           & (NGSP_XML_CACHE - 1);
#endif
}


/* the buffers grow on demand (doubling) up to their bounds */
static int
ngsp_xml_alloc(ngsp_mask_body_t *b)
{
    ngsp_mask_xml_t  *x = (ngsp_mask_xml_t *) b;

    if (ngsp_mask_grow(&x->names, &x->names_cap, 256) != 0
        || ngsp_mask_grow(&b->buf, &b->buf_cap, 256) != 0
        || ngsp_mask_grow(&b->res, &b->res_cap, 256) != 0
        || ngsp_mask_grow(&b->pend, &b->pend_cap, 256) != 0)
    {
        return -1;
    }

    return 0;
}


static void
ngsp_xml_free(ngsp_mask_body_t *b)
{
    free(((ngsp_mask_xml_t *) b)->names);
}


static void
ngsp_xml_reset(ngsp_mask_body_t *b)
{
    ngsp_mask_xml_t  *x = (ngsp_mask_xml_t *) b;

    x->state = X_START;
    x->depth = 0;
    x->cur = NULL;
    x->names_len = 0;
    x->mode = M_LIVE;
    x->tdisp = T_PROLOG;
    x->k = 0;
    x->tlen = 0;
    x->ws_seen = 0;
    x->at_start = 1;
    x->decl = 0;
    x->root_seen = 0;
    x->root_done = 0;
    x->run = NULL;
    x->tent = NULL;
    x->tent_pend = 0;
    x->tact = 0;
    x->held = 0;
    x->resume = 1;
}


static int
ngsp_xml_fail(ngsp_mask_xml_t *x, ngsp_mask_status_t st, const char *why)
{
    x->body.status = st;
    x->body.why = why;

    return -1;
}


#define ngsp_xml_syntax(x, why)  ngsp_xml_fail(x, NGSP_MASK_ERR_SYNTAX, why)


/*
 * n more bytes (decoded) of the text node or attribute value being read,
 * whatever becomes of them: passed text is only counted, never held, but
 * it is bounded like masked text.  The count crosses feeds, so the error
 * is the same however the input is cut.  Returns how many of the n bytes
 * fit, n if all do; the caller fails at the first one that does not.
 */
static inline size_t
ngsp_xml_count(ngsp_mask_xml_t *x, size_t n)
{
    size_t  had = x->tlen;

    x->tlen += n;

    if (x->tlen <= x->body.conf.max_value) {
        return n;
    }

    ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE, "text or name too long");

    return x->body.conf.max_value - had;
}


/* ngsp_mask_grow(), failing the rewriter when out of memory */
static int
ngsp_xml_grow(ngsp_mask_xml_t *x, unsigned char **b, size_t *cap,
    size_t need)
{
    if (ngsp_mask_grow(b, cap, need) != 0) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_NOMEM, "out of memory");
    }

    return 0;
}


/* --- output --------------------------------------------------------------- */


/*
 * Held and carried bytes.  What is held is bounded by max_value where it
 * is decided (ngsp_xml_held_check), whatever the cuts; a carried stretch
 * is a '<' and a name, or blanks and a name, each bounded too; and the
 * XML declaration, bounded as it is read.  So this bound is only a guard.
 */
static int
ngsp_xml_pend(ngsp_mask_xml_t *x, const unsigned char *p, size_t len)
{
    ngsp_mask_body_t  *b = &x->body;

    if (len == 0) {
        return 0;
    }

    if (b->pend_len + len > 4 * b->conf.max_value + 16) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE,
                             "start tag too long to hold");
    }

    if (ngsp_mask_append(&b->pend, &b->pend_len, &b->pend_cap, p, len) != 0) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_NOMEM, "out of memory");
    }

    return 0;
}


/* the engine's own bytes; the run must have been cut before them */
static int
ngsp_xml_put(ngsp_mask_xml_t *x, const void *data, size_t len)
{
    if (x->held) {
        return ngsp_xml_pend(x, data, len);
    }

    return ngsp_mask_out_put(&x->body, data, len);
}


/* input bytes [a, b): after whatever is staged, to keep the order */
static inline int
ngsp_xml_deliver(ngsp_mask_xml_t *x, const unsigned char *a,
    const unsigned char *b)
{
    if (a == NULL || b <= a) {
        return 0;
    }

    if (x->held) {
        return ngsp_xml_pend(x, a, b - a);
    }

    return ngsp_mask_out_span(&x->body, a, b);
}


/* output stops at p */
static inline int
ngsp_xml_cut(ngsp_mask_xml_t *x, const unsigned char *p)
{
    int  rc;

    rc = ngsp_xml_deliver(x, x->run, p);
    x->run = NULL;

    return rc;
}


static inline void
ngsp_xml_tent_begin(ngsp_mask_xml_t *x, const unsigned char *p)
{
    if (x->run == NULL) {
        x->run = p;
    }

    x->tent = p;
    x->tact = 1;
}


/* the tentative stretch goes out (after anything already staged) */
static inline int
ngsp_xml_tent_keep(ngsp_mask_xml_t *x)
{
    if (!x->tact) {
        return 0;
    }

    x->tact = 0;

    if (x->tent == NULL && !x->held) {
        /* carried from older feeds: before this feed's run */
        if (ngsp_mask_out_put(&x->body, x->body.pend, x->body.pend_len) != 0) {
            return -1;
        }
        x->body.pend_len = 0;
    }

    x->tent = NULL;

    return 0;
}


/* the tentative stretch is dropped; output stops before it */
static int
ngsp_xml_tent_drop(ngsp_mask_xml_t *x)
{
    if (!x->tact) {
        return 0;
    }

    x->tact = 0;

    if (x->tent) {
        if (ngsp_xml_deliver(x, x->run, x->tent) != 0) {
            return -1;
        }

    } else {
        x->body.pend_len = x->held ? x->tent_pend : 0;
    }

    x->run = NULL;
    x->tent = NULL;

    return 0;
}


/* the tentative start tag becomes the start of a held element */
static int
ngsp_xml_hold_begin(ngsp_mask_xml_t *x)
{
    if (x->tent) {
        if (ngsp_xml_deliver(x, x->run, x->tent) != 0) {
            return -1;
        }
        x->run = x->tent;
    }

    /* else its bytes are all in pend already */

    x->tent = NULL;
    x->tact = 0;
    x->held = 1;

    return 0;
}


/*
 * The bytes held so far (p: the current position), without a tentative
 * stretch after them: over max_value is an error, the same one however
 * the input was cut.
 */
static int
ngsp_xml_held_check(ngsp_mask_xml_t *x, const unsigned char *p)
{
    size_t  n;

    if (x->tact) {
        n = x->tent ? x->body.pend_len + (x->tent - x->run) : x->tent_pend;

    } else {
        n = x->body.pend_len + (x->run ? (size_t) (p - x->run) : 0);
    }

    if (n > x->body.conf.max_value) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE,
                             "start tag too long to hold");
    }

    return 0;
}


/* the held element is kept: what is held goes out */
static int
ngsp_xml_held_keep(ngsp_mask_xml_t *x, const unsigned char *p)
{
    size_t             n;
    ngsp_xml_frame_t  *f = x->cur;

    if (ngsp_xml_held_check(x, p) != 0) {
        return -1;
    }

    /* a tentative '<' carried in pend is not part of what is held */
    n = (x->tact && x->tent == NULL) ? x->tent_pend : x->body.pend_len;

    x->held = 0;
    f->held = 0;
    f->tdisp = T_DROP;

    if (x->body.pend_len == 0) {
        return 0;
    }

    if (ngsp_mask_out_put(&x->body, x->body.pend, n) != 0) {
        return -1;
    }

    memmove(x->body.pend, x->body.pend + n, x->body.pend_len - n);
    x->body.pend_len -= n;
    x->tent_pend = 0;

    return 0;
}


/* the held element holds text: it is removed */
static int
ngsp_xml_held_drop(ngsp_mask_xml_t *x, const unsigned char *p)
{
    ngsp_xml_frame_t  *f = x->cur;

    if (ngsp_xml_held_check(x, p) != 0) {
        return -1;
    }

    x->held = 0;
    x->body.pend_len = 0;
    x->run = NULL;
    x->tact = 0;
    x->tent = NULL;
    x->body.masked++;

    f->held = 0;
    f->out = 0;
    f->kids = 0;
    f->tdisp = T_SKIP;

    return 0;
}


/* decoded text, escaped for an element's content or an attribute value */
static int
ngsp_xml_put_escaped(ngsp_mask_xml_t *x, const unsigned char *p, size_t len,
    unsigned attr)
{
    unsigned char         cls, c, *d;
    const char           *e;
    const unsigned char  *q, *end;

    cls = attr ? C_ESC_ATTR : C_ESC_TEXT;
    end = p + len;

    if (!x->held && len <= (NGSP_MASK_STAGE - x->body.staged) / 6) {
        /* room for the worst case ("&quot;" for each byte): in one pass */
        d = x->body.stage + x->body.staged;

#ifdef NGSP_XML_LE
        /* masked text is mostly plain: a word at a time while it is */
        while (!attr && end - p >= 8 && !ngsp_xml_esc_text(ngsp_xml_word(p)))
        {
            memcpy(d, p, 8);
            d += 8;
            p += 8;
        }
#endif

        for ( /* void */ ; p < end; p++) {
            c = *p;

            if (!(ngsp_xml_class[c] & cls)) {
                *d++ = c;
                continue;
            }

            switch (c) {
            case '<': memcpy(d, "&lt;", 4); d += 4; break;
            case '>': memcpy(d, "&gt;", 4); d += 4; break;
            case '&': memcpy(d, "&amp;", 5); d += 5; break;
            case '"': memcpy(d, "&quot;", 6); d += 6; break;
            case '\'': memcpy(d, "&apos;", 6); d += 6; break;
            case '\t': memcpy(d, "&#9;", 4); d += 4; break;
            case '\n': memcpy(d, "&#10;", 5); d += 5; break;
            default: memcpy(d, "&#13;", 5); d += 5; break;
            }
        }

        x->body.staged = d - x->body.stage;

        return 0;
    }

    while (p < end) {
        q = p;
        while (p < end && !(ngsp_xml_class[*p] & cls)) {
            p++;
        }

        if (p > q && ngsp_xml_put(x, q, p - q) != 0) {
            return -1;
        }

        if (p == end) {
            break;
        }

        c = *p++;

        switch (c) {
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '&': e = "&amp;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&apos;"; break;
        case '\t': e = "&#9;"; break;
        case '\n': e = "&#10;"; break;
        default: e = "&#13;"; break;
        }

        if (ngsp_xml_put(x, e, strlen(e)) != 0) {
            return -1;
        }
    }

    return 0;
}


/* buf[0..len) through an action, written back escaped */
static int
ngsp_xml_put_masked(ngsp_mask_xml_t *x, const ngsp_mask_action_t *act,
    unsigned attr)
{
    size_t             n;
    ngsp_mask_body_t  *b = &x->body;

    if (act->kind == NGSP_MASK_REDACT) {
        b->masked++;
        return ngsp_xml_put(x, "***", 3);
    }

    if (ngsp_xml_grow(x, &b->res, &b->res_cap,
                      ngsp_mask_action_out_max(act, b->len)) != 0)
    {
        return -1;
    }

    n = ngsp_mask_action_apply(act, b->conf.key, b->buf, b->len, b->res);
    b->masked++;

    return ngsp_xml_put_escaped(x, b->res, n, attr);
}


/* --- decoding ------------------------------------------------------------- */


static int
ngsp_xml_append(ngsp_mask_xml_t *x, const unsigned char *p, size_t n)
{
    ngsp_mask_body_t  *b = &x->body;

    if (b->len + n > b->conf.max_value) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE,
                             "text or name too long");
    }

    if (ngsp_mask_append(&b->buf, &b->len, &b->buf_cap, p, n) != 0) {
        return ngsp_xml_fail(x, NGSP_MASK_ERR_NOMEM, "out of memory");
    }

    return 0;
}


/* an attribute value as a parser sees it: raw blanks become spaces */
static int
ngsp_xml_append_attr(ngsp_mask_xml_t *x, const unsigned char *p, size_t n)
{
    size_t  i, from;

    if (ngsp_xml_append(x, p, n) != 0) {
        return -1;
    }

    from = x->body.len - n;

    for (i = from; i < x->body.len; i++) {
        if (ngsp_xml_class[x->body.buf[i]] & C_WS) {
            x->body.buf[i] = ' ';
        }
    }

    return 0;
}


static int
ngsp_xml_append_cp(ngsp_mask_xml_t *x, unsigned cp)
{
    unsigned char  u[4];

    return ngsp_xml_append(x, u, ngsp_mask_utf8(u, cp));
}


/*
 * The reference in ref[0..ref_len): one of the five predefined entities
 * or a character reference to a character XML allows.  Its code point,
 * or -1: no other entity exists without a DTD, and none is accepted.
 */
static long
ngsp_xml_ref_value(const unsigned char *r, size_t n)
{
    size_t  i;
    long    v;
    int     d, base;

    if (n == 2 && r[1] == 't' && (r[0] == 'l' || r[0] == 'g')) {
        return r[0] == 'l' ? '<' : '>';
    }

    if (n == 3 && memcmp(r, "amp", 3) == 0) {
        return '&';
    }

    if (n == 4 && memcmp(r, "quot", 4) == 0) {
        return '"';
    }

    if (n == 4 && memcmp(r, "apos", 4) == 0) {
        return '\'';
    }

    if (n < 2 || r[0] != '#') {
        return -1;
    }

    i = 1;
    base = 10;

    if (r[1] == 'x') {
        base = 16;
        i = 2;
        if (n < 3) {
            return -1;
        }
    }

    for (v = 0; i < n; i++) {
        if (r[i] >= '0' && r[i] <= '9') {
            d = r[i] - '0';
        } else if (base == 16 && (r[i] | 0x20) >= 'a' && (r[i] | 0x20) <= 'f')
        {
            d = (r[i] | 0x20) - 'a' + 10;
        } else {
            return -1;
        }

        v = v * base + d;
        if (v > 0x10ffff) {
            return -1;
        }
    }

    if (v == 0x9 || v == 0xa || v == 0xd || (v >= 0x20 && v <= 0xd7ff)
        || (v >= 0xe000 && v <= 0xfffd) || v >= 0x10000)
    {
        return v;
    }

    return -1;
}


/* the decoded text of the current node goes out, masked */
static inline int
ngsp_xml_text_end(ngsp_mask_xml_t *x)
{
    size_t             i;
    ngsp_xml_frame_t  *f;

    if (x->mode != M_DECODE) {
        return 0;
    }

    x->mode = M_SKIP;

    for (i = 0; i < x->body.len; i++) {
        if (!(ngsp_xml_class[x->body.buf[i]] & C_WS)) {
            break;
        }
    }

    if (i == x->body.len) {
        /* blanks between elements are no data */
        return ngsp_xml_put_escaped(x, x->body.buf, x->body.len, 0);
    }

    f = x->cur;

    return ngsp_xml_put_masked(x, f->act, 0);
}


/* a text node starts at q, inside the innermost open element */
static NGSP_XML_HOT int
ngsp_xml_text_begin(ngsp_mask_xml_t *x, const unsigned char *q)
{
    x->tdisp = x->cur ? x->cur->tdisp : T_PROLOG;
    x->tlen = 0;

    switch (x->tdisp) {

    case T_MASK:
        x->mode = M_DECODE;
        x->body.len = 0;
        return ngsp_xml_cut(x, q);

    case T_SKIP:
        x->mode = M_SKIP;
        return ngsp_xml_cut(x, q);

    default:
        x->mode = M_LIVE;
        if (x->run == NULL) {
            x->run = q;
        }
        return 0;
    }
}


/* after a comment, processing instruction or CDATA section */
static inline void
ngsp_xml_markup_end(ngsp_mask_xml_t *x, const unsigned char *q)
{
    x->state = X_TEXT;

    if (x->mode == M_LIVE && x->run == NULL) {
        x->run = q;
    }
}


/* --- tags ----------------------------------------------------------------- */


/* the start tag's name is complete: what becomes of the element */
static NGSP_XML_HOT int
ngsp_xml_start_decide(ngsp_mask_xml_t *x)
{
    size_t                      len;
    ngsp_xml_frame_t           *f, *top;
    ngsp_xml_cached_t          *e;
    ngsp_mask_body_t           *b = &x->body;
    const unsigned char        *name, *local;
    const ngsp_mask_action_t   *act;

    f = x->cur;
    top = (x->depth > 1) ? f - 1 : NULL;

    name = x->names + f->name_off;
    len = f->name_len;
    e = NULL;

    if (len <= NGSP_XML_CACHE_NAME) {
        /* two ways: a document's few dozen names seldom put three in one
         * set; names has slack after the name (NGSP_XML_SLACK) */
        e = x->cache[ngsp_xml_cache_slot(name, len)];

        if (e[0].len == len && ngsp_xml_eq(e[0].name, name, len)) {
            f->id = e[0].id;
            goto named;
        }

        if (e[1].len == len && ngsp_xml_eq(e[1].name, name, len)) {
            f->id = e[1].id;
            goto named;
        }

        /* the newest in the first way, the one it displaces in the second */
        e[1] = e[0];
    }

    local = name + len;
    while (local > name && local[-1] != ':') {
        local--;
    }

    f->id = ngsp_mask_profile_name(b->conf.profile, local,
                                   name + len - local);

    if (e) {
        e->len = len;
        e->id = f->id;
        memcpy(e->name, name, len);
    }

named:
    f->held = 0;
    f->redact = 0;
    f->act = NULL;

    if (top && !top->kids) {
        f->out = 0;
        f->kids = 0;
        f->tdisp = T_SKIP;
        return ngsp_xml_tent_drop(x);
    }

    /* most elements are no rule's name */
    act = f->id ? ngsp_mask_profile_rule(b->conf.profile, top ? top->id : 0,
                                         f->id)
                : NULL;
    if (act == NULL && top) {
        act = top->act;
    }

    f->act = act;
    f->out = 1;
    f->kids = 1;
    f->tdisp = T_PASS;

    if (act == NULL) {
        if (b->dflt != NGSP_MASK_REMOVE) {
            return ngsp_xml_tent_keep(x);
        }

        if (top == NULL) {
            /* the root stays, whatever it holds */
            f->tdisp = T_DROP;
            return ngsp_xml_tent_keep(x);
        }

        f->held = 1;
        f->tdisp = T_HELD;
        return ngsp_xml_hold_begin(x);
    }

    switch (act->kind) {

    case NGSP_MASK_PASS:
        break;

    case NGSP_MASK_REMOVE:
        b->masked++;
        f->kids = 0;
        f->tdisp = T_SKIP;

        if (top) {
            f->out = 0;
            return ngsp_xml_tent_drop(x);
        }

        /* the root: emptied, not removed, so the output stays XML */
        break;

    case NGSP_MASK_REDACT:
        f->kids = 0;
        f->tdisp = T_SKIP;
        f->redact = 1;
        break;

    default:
        f->tdisp = T_MASK;
        break;
    }

    return ngsp_xml_tent_keep(x);
}


/* the attribute's name is complete (buf: '@' and the name) */
static int
ngsp_xml_attr_decide(ngsp_mask_xml_t *x)
{
    unsigned char              *name, *colon, *end;
    ngsp_xml_frame_t           *f;
    ngsp_mask_kind_t            kind;
    const ngsp_mask_action_t   *act;

    f = x->cur;
    name = x->body.buf + 1;
    end = x->body.buf + x->body.len;

    /* namespace declarations are structure, never data */
    if ((end - name == 5 || (end - name > 5 && name[5] == ':'))
        && memcmp(name, "xmlns", 5) == 0)
    {
        x->adisp = A_KEEP;
        return ngsp_xml_tent_keep(x);
    }

    if (!f->out) {
        x->adisp = A_SKIP;
        return 0;
    }

    colon = end;
    while (colon > name && colon[-1] != ':') {
        colon--;
    }

    /* "@" and the local name */
    colon--;
    *colon = '@';

    act = ngsp_mask_profile_rule(x->body.conf.profile, f->id,
              ngsp_mask_profile_name(x->body.conf.profile, colon, end - colon));
    if (act == NULL) {
        act = f->act;
    }

    kind = act ? act->kind
               : (x->body.dflt == NGSP_MASK_REMOVE) ? NGSP_MASK_REMOVE
                                               : NGSP_MASK_PASS;
    x->aact = act;

    switch (kind) {

    case NGSP_MASK_PASS:
        x->adisp = A_KEEP;
        break;

    case NGSP_MASK_REMOVE:
        x->adisp = A_SKIP;
        x->body.masked++;
        return ngsp_xml_tent_drop(x);

    case NGSP_MASK_REDACT:
        x->adisp = A_REDACT;
        break;

    default:
        x->adisp = A_MASK;
        break;
    }

    return ngsp_xml_tent_keep(x);
}


/* an element ended; q is just after it */
static NGSP_XML_HOT int
ngsp_xml_element_end(ngsp_mask_xml_t *x, const unsigned char *q)
{
    ngsp_xml_frame_t  *f = x->cur;

    if (f->held && ngsp_xml_held_keep(x, q) != 0) {
        return -1;
    }

    x->names_len = f->name_off;
    x->depth--;
    x->cur = x->depth ? f - 1 : NULL;

    if (x->depth == 0) {
        x->root_done = 1;
    }

    x->state = X_TEXT;

    return ngsp_xml_text_begin(x, q);
}


/* the encoding in the XML declaration (buf), if any, must be UTF-8 */
static int
ngsp_xml_check_decl(ngsp_mask_xml_t *x)
{
    size_t          i, n;
    unsigned char  *p, *end, q;

    end = x->body.buf + x->body.len;

    for (p = x->body.buf; p + 8 <= end; p++) {
        if (memcmp(p, "encoding", 8) == 0) {
            break;
        }
    }

    if (p + 8 > end) {
        return 0;
    }

    p += 8;

    while (p < end && (ngsp_xml_class[*p] & C_WS)) {
        p++;
    }

    if (p == end || *p++ != '=') {
        return ngsp_xml_syntax(x, "malformed xml declaration");
    }

    while (p < end && (ngsp_xml_class[*p] & C_WS)) {
        p++;
    }

    if (p == end || (*p != '"' && *p != '\'')) {
        return ngsp_xml_syntax(x, "malformed xml declaration");
    }

    q = *p++;

    for (n = 0; p + n < end && p[n] != q; n++) {
        /* void */
    }

    if (n == 5) {
        for (i = 0; i < 5; i++) {
            if ((p[i] | 0x20) != (unsigned char) "utf-8"[i]) {
                break;
            }
        }

        if (i == 5) {
            return 0;
        }
    }

    return ngsp_xml_syntax(x, "encoding not utf-8");
}


/* --- the state machine ---------------------------------------------------- */


static ngsp_mask_status_t
ngsp_xml_feed(ngsp_mask_body_t *b, const unsigned char *data, size_t size)
{
    int                   done;
    long                  v;
    size_t                n;
    unsigned char         c;
    const unsigned char  *p, *q, *end, *name;
    ngsp_xml_frame_t     *f;
    ngsp_mask_xml_t      *x = (ngsp_mask_xml_t *) b;

    if (x->state == X_ERROR) {
        return b->status;
    }

    if (size == 0) {
        return NGSP_MASK_OK;
    }

    p = data;
    end = data + size;

    /* what was open when the last feed ended continues here */
    x->run = x->resume ? data : NULL;
    x->tent = NULL;

    while (p < end) {

        switch (x->state) {

        case X_TEXT:
        text:
            if (x->mode == M_LIVE && x->tdisp != T_PASS) {
                /* only blanks may go out here */
                q = p;
                p = ngsp_xml_blank_scan(p, end);

                if (p > q) {
                    x->at_start = 0;

                    n = ngsp_xml_count(x, p - q);
                    if (n != (size_t) (p - q)) {
                        p = q + n;
                        goto failed;
                    }
                }

                if (p == end) {
                    break;
                }

                c = *p;

                if (c != '<') {
                    x->at_start = 0;

                    if (x->tdisp == T_PROLOG) {
                        ngsp_xml_syntax(x, "text outside the root element");
                        goto failed;
                    }

                    if (x->tdisp == T_DROP) {
                        b->masked++;
                        if (ngsp_xml_cut(x, p) != 0) {
                            goto failed;
                        }

                    } else if (ngsp_xml_held_drop(x, p) != 0) {
                        goto failed;
                    }

                    x->mode = M_SKIP;
                    break;
                }

            } else {
                q = p;
                p = ngsp_xml_text_scan(p, end);

                if (p > q) {
                    n = ngsp_xml_count(x, p - q);
                    if (n != (size_t) (p - q)) {
                        p = q + n;
                        goto failed;
                    }
                }

                if (x->mode == M_DECODE && p > q
                    && ngsp_xml_append(x, q, p - q) != 0)
                {
                    goto failed;
                }

                if (p == end) {
                    break;
                }

                c = *p;
            }

            if (c == '&') {
                x->ref_ret = X_TEXT;
                x->ref_len = 0;
                x->state = X_REF;
                p++;
                break;
            }

            /*
             * '</', the most frequent markup: nothing tentative about an end
             * tag, so straight to its name (a held element's end goes the
             * long way, which keeps the held bytes counted alike)
             */
            if (end - p > 2 && p[1] == '/' && x->cur && !x->cur->held) {
                if (ngsp_xml_text_end(x) != 0) {
                    goto failed;
                }

                if (x->cur->out && x->run == NULL) {
                    x->run = p;
                }

                p += 2;
                x->k = 0;
                x->state = X_ETAG_NAME;
                goto etag_name;
            }

            /* '<': tentative wherever this level has output */
            if (x->cur == NULL || x->cur->out) {
                ngsp_xml_tent_begin(x, p);
            }

            x->state = X_LT;
            p++;
            if (p < end) {
                goto lt;
            }
            break;

        case X_REF:
            c = *p;

            if (c != ';') {
                if (x->ref_len == NGSP_XML_REF_MAX
                    || (!(ngsp_xml_class[c] & C_NAME) && c != '#')
                    || c == ':')
                {
                    ngsp_xml_syntax(x, "malformed reference");
                    goto failed;
                }

                x->ref[x->ref_len++] = c;
                p++;
                break;
            }

            v = ngsp_xml_ref_value(x->ref, x->ref_len);
            if (v < 0) {
                ngsp_xml_syntax(x, "undefined entity or bad character "
                                   "reference");
                goto failed;
            }

            /* counted as the bytes it stands for */
            n = v < 0x80 ? 1 : v < 0x800 ? 2 : v < 0x10000 ? 3 : 4;
            if (ngsp_xml_count(x, n) != n) {
                goto failed;
            }

            if (((x->ref_ret == X_TEXT && x->mode == M_DECODE)
                 || (x->ref_ret == X_ATTR_VAL && x->adisp == A_MASK))
                && ngsp_xml_append_cp(x, (unsigned) v) != 0)
            {
                goto failed;
            }

            x->state = x->ref_ret;
            p++;
            break;

        case X_LT:
        lt:
            c = *p;

            if (c == '?') {
                x->state = X_PI_TARGET;
                x->k = 0;
                p++;
                break;
            }

            x->at_start = 0;

            if (c == '!') {
                x->state = X_BANG;
                p++;
                break;
            }

            if (c == '/') {
                if (x->depth == 0) {
                    ngsp_xml_syntax(x, "end tag outside the root element");
                    goto failed;
                }

                if (ngsp_xml_text_end(x) != 0
                    || (x->cur->held
                        && ngsp_xml_held_keep(x, p) != 0)
                    || ngsp_xml_tent_keep(x) != 0)
                {
                    goto failed;
                }

                x->k = 0;
                x->state = X_ETAG_NAME;
                p++;
                if (p < end) {
                    goto etag_name;
                }
                break;
            }

            if (!(ngsp_xml_class[c] & C_NSTART)) {
                ngsp_xml_syntax(x, "malformed markup");
                goto failed;
            }

            if (x->depth == 0 && x->root_seen) {
                ngsp_xml_syntax(x, "content after the root element");
                goto failed;
            }

            if (ngsp_xml_text_end(x) != 0
                || (x->cur && x->cur->held
                    && ngsp_xml_held_keep(x, p) != 0))
            {
                goto failed;
            }

            if (x->depth == b->conf.max_depth) {
                ngsp_xml_fail(x, NGSP_MASK_ERR_DEPTH, "nesting too deep");
                goto failed;
            }

            f = &x->frames[x->depth++];
            x->cur = f;
            f->name_off = x->names_len;
            f->name_len = 0;
            x->root_seen = 1;
            x->state = X_STAG_NAME;
            goto stag_name;

        case X_BANG:
            c = *p;

            if (c == '-') {
                x->state = X_BANG_DASH;
                p++;
                break;
            }

            if (c == '[' && x->depth) {
                x->state = X_CDATA_OPEN;
                x->k = 0;
                p++;
                break;
            }

            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) {
                /* no DTD, so no entity is ever expanded (XXE, billion
                 * laughs) */
                ngsp_xml_syntax(x, "doctype or markup declaration refused");
                goto failed;
            }

            ngsp_xml_syntax(x, "malformed markup");
            goto failed;

        case X_BANG_DASH:
            if (*p != '-') {
                ngsp_xml_syntax(x, "malformed comment");
                goto failed;
            }

            if (ngsp_xml_tent_drop(x) != 0) {
                goto failed;
            }

            x->state = X_COMMENT;
            x->k = 0;
            p++;
            break;

        case X_COMMENT:
            if (x->k == 0) {
                q = memchr(p, '-', end - p);
                if (q == NULL) {
                    p = end;
                    break;
                }
                p = q;
            }

            c = *p++;

            if (c == '-') {
                x->k++;

            } else if (c == '>' && x->k >= 2) {
                ngsp_xml_markup_end(x, p);

            } else {
                x->k = 0;
            }

            break;

        case X_CDATA_OPEN:
            if (*p != (unsigned char) "CDATA["[x->k]) {
                ngsp_xml_syntax(x, "malformed markup");
                goto failed;
            }

            p++;

            if (++x->k < 6) {
                break;
            }

            x->state = X_CDATA;
            x->k = 0;

            switch (x->mode) {

            case M_LIVE:
                if (x->tdisp == T_PASS) {
                    if (ngsp_xml_tent_keep(x) != 0) {
                        goto failed;
                    }
                    break;
                }

                if (x->tdisp == T_DROP) {
                    b->masked++;
                    if (ngsp_xml_tent_drop(x) != 0) {
                        goto failed;
                    }

                } else if (ngsp_xml_held_drop(x, p) != 0) {
                    goto failed;
                }

                x->mode = M_SKIP;
                break;

            default:
                if (ngsp_xml_tent_drop(x) != 0) {
                    goto failed;
                }
                break;
            }

            break;

        case X_CDATA:
            c = *p;

            if (c == ']') {
                x->k++;
                p++;
                break;
            }

            /* the ']' held back are text, but the two before the '>' */
            done = (c == '>' && x->k >= 2);
            n = done ? x->k - 2 : x->k;
            x->k = 0;

            if (n) {
                if (ngsp_xml_count(x, n) != n) {
                    goto failed;
                }

                while (x->mode == M_DECODE && n--) {
                    if (ngsp_xml_append(x, (const unsigned char *) "]", 1)
                        != 0)
                    {
                        goto failed;
                    }
                }
            }

            if (done) {
                p++;
                ngsp_xml_markup_end(x, p);
                break;
            }

            q = p;
            p = memchr(p, ']', end - p);
            if (p == NULL) {
                p = end;
            }

            n = ngsp_xml_count(x, p - q);
            if (n != (size_t) (p - q)) {
                p = q + n;
                goto failed;
            }

            if (x->mode == M_DECODE && ngsp_xml_append(x, q, p - q) != 0) {
                goto failed;
            }

            break;

        case X_PI_TARGET:
            c = *p;

            if ((ngsp_xml_class[c] & C_NAME)
                && (x->k || (ngsp_xml_class[c] & C_NSTART)))
            {
                if (x->k < sizeof(x->target)) {
                    x->target[x->k] = c | 0x20;
                }
                x->k++;
                p++;
                break;
            }

            if (x->k == 0
                || (c != '?' && !(ngsp_xml_class[c] & C_WS)))
            {
                ngsp_xml_syntax(x, "malformed processing instruction");
                goto failed;
            }

            if (x->k == 3 && memcmp(x->target, "xml", 3) == 0) {
                if (!x->at_start) {
                    ngsp_xml_syntax(x, "misplaced xml declaration");
                    goto failed;
                }

                /* kept, once its encoding is known */
                x->decl = 1;
                b->len = 0;

            } else if (ngsp_xml_tent_drop(x) != 0) {
                goto failed;
            }

            x->at_start = 0;
            x->state = X_PI;
            x->k = 0;
            break;

        case X_PI:
            c = *p++;

            if (c == '>' && x->k) {
                if (x->decl) {
                    x->decl = 0;
                    if (ngsp_xml_check_decl(x) != 0
                        || ngsp_xml_tent_keep(x) != 0)
                    {
                        goto failed;
                    }
                }

                ngsp_xml_markup_end(x, p);
                break;
            }

            x->k = (c == '?');

            if (x->decl && ngsp_xml_append(x, &c, 1) != 0) {
                goto failed;
            }

            break;

        case X_STAG_NAME:
        stag_name:
            q = p;
            p = ngsp_xml_name_scan(p, end);

            f = x->cur;

            if (p > q) {
                if (f->name_len + (p - q) > b->conf.max_value) {
                    ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE, "name too long");
                    goto failed;
                }

                n = p - q;

                if (ngsp_xml_grow(x, &x->names, &x->names_cap,
                                  x->names_len + n + NGSP_XML_SLACK) != 0)
                {
                    goto failed;
                }

                if (n <= 16 && end - q >= 16) {
                    /* the slack takes what is copied beyond the name */
                    memcpy(x->names + x->names_len, q, 16);

                } else {
                    memcpy(x->names + x->names_len, q, n);
                }

                x->names_len += n;
                f->name_len += n;
            }

            if (p == end) {
                break;
            }

            if (ngsp_xml_start_decide(x) != 0) {
                goto failed;
            }

            /* most start tags have no attribute */
            if (*p == '>') {
                f = x->cur;
                goto stag_close;
            }

            x->ws_seen = 0;
            x->blanks = 0;
            x->state = X_STAG;
            goto stag;

        case X_STAG:
        stag:
            c = *p;
            f = x->cur;

            if (ngsp_xml_class[c] & C_WS) {
                if (!x->tact && f->out) {
                    /* the blank belongs to the attribute after it */
                    ngsp_xml_tent_begin(x, p);
                }

                /* it may have to be carried: bounded like a name */
                if (++x->blanks > b->conf.max_value) {
                    ngsp_xml_fail(x, NGSP_MASK_ERR_VALUE, "start tag too long "
                                  "to hold");
                    goto failed;
                }

                x->ws_seen = 1;
                p++;
                break;
            }

            x->blanks = 0;

            if (c == '>') {
            stag_close:
                p++;

                if (ngsp_xml_tent_keep(x) != 0
                    || ngsp_xml_text_begin(x, p) != 0)
                {
                    goto failed;
                }

                if (f->redact) {
                    b->masked++;
                    if (ngsp_xml_put(x, "***", 3) != 0) {
                        goto failed;
                    }
                }

                x->state = X_TEXT;
                if (p < end) {
                    goto text;
                }
                break;
            }

            if (c == '/') {
                if (ngsp_xml_tent_keep(x) != 0) {
                    goto failed;
                }

                x->state = X_STAG_SLASH;
                p++;
                break;
            }

            if (!(ngsp_xml_class[c] & C_NSTART) || !x->ws_seen) {
                ngsp_xml_syntax(x, "malformed start tag");
                goto failed;
            }

            b->len = 0;
            if (ngsp_xml_append(x, (const unsigned char *) "@", 1) != 0) {
                goto failed;
            }

            x->state = X_ATTR_NAME;
            break;

        case X_STAG_SLASH:
            if (*p != '>') {
                ngsp_xml_syntax(x, "malformed start tag");
                goto failed;
            }

            p++;

            if (ngsp_xml_element_end(x, p) != 0) {
                goto failed;
            }

            break;

        case X_ATTR_NAME:
            q = p;
            p = ngsp_xml_name_scan(p, end);

            if (p > q && ngsp_xml_append(x, q, p - q) != 0) {
                goto failed;
            }

            if (p == end) {
                break;
            }

            if (ngsp_xml_attr_decide(x) != 0) {
                goto failed;
            }

            x->state = X_ATTR_EQ;
            break;

        case X_ATTR_EQ:
        case X_ATTR_QUOTE:
            c = *p;

            if (ngsp_xml_class[c] & C_WS) {
                p++;
                break;
            }

            if (x->state == X_ATTR_EQ) {
                if (c != '=') {
                    ngsp_xml_syntax(x, "malformed attribute");
                    goto failed;
                }

                x->state = X_ATTR_QUOTE;
                p++;
                break;
            }

            if (c != '"' && c != '\'') {
                ngsp_xml_syntax(x, "malformed attribute");
                goto failed;
            }

            x->quote = c;
            b->len = 0;
            x->tlen = 0;
            p++;

            if ((x->adisp == A_MASK || x->adisp == A_REDACT)
                && ngsp_xml_cut(x, p) != 0)
            {
                goto failed;
            }

            x->state = X_ATTR_VAL;
            break;

        case X_ATTR_VAL:
            q = p;
            while (p < end && !(ngsp_xml_class[*p] & C_ASTOP)) {
                p++;
            }

            if (p > q) {
                n = ngsp_xml_count(x, p - q);
                if (n != (size_t) (p - q)) {
                    p = q + n;
                    goto failed;
                }
            }

            if (x->adisp == A_MASK && p > q
                && ngsp_xml_append_attr(x, q, p - q) != 0)
            {
                goto failed;
            }

            if (p == end) {
                break;
            }

            c = *p;

            if (c == '<') {
                ngsp_xml_syntax(x, "'<' in an attribute value");
                goto failed;
            }

            if (c == '&') {
                x->ref_ret = X_ATTR_VAL;
                x->ref_len = 0;
                x->state = X_REF;
                p++;
                break;
            }

            if (c != x->quote) {
                if (ngsp_xml_count(x, 1) != 1
                    || (x->adisp == A_MASK && ngsp_xml_append(x, &c, 1) != 0))
                {
                    goto failed;
                }
                p++;
                break;
            }

            /* the closing quote */
            switch (x->adisp) {

            case A_MASK:
            case A_REDACT:
                if (ngsp_xml_put_masked(x, x->aact, 1) != 0) {
                    goto failed;
                }
                x->run = p;
                break;

            case A_SKIP:
                if (x->cur->out) {
                    x->run = p + 1;
                }
                break;

            default:
                break;
            }

            p++;
            x->ws_seen = 0;
            x->state = X_STAG;
            break;

        case X_ETAG_NAME:
        etag_name:
            f = x->cur;
            name = x->names + f->name_off;
            n = f->name_len - x->k;

            /* usually the whole name and the '>' are here */
            if ((size_t) (end - p) > n
                && ((size_t) (end - p) >= n + 8
                    ? ngsp_xml_eq(p, name + x->k, n)
                    : memcmp(p, name + x->k, n) == 0)
                && !(ngsp_xml_class[p[n]] & C_NAME))
            {
                p += n;

                if (*p != '>') {
                    x->state = X_ETAG_END;
                    break;
                }

                p++;

                if (ngsp_xml_element_end(x, p) != 0) {
                    goto failed;
                }

                if (p < end) {
                    goto text;
                }

                break;
            }

            while (p < end && (ngsp_xml_class[*p] & C_NAME)) {
                if (x->k == f->name_len || *p != name[x->k]) {
                    ngsp_xml_syntax(x, "mismatched end tag");
                    goto failed;
                }
                x->k++;
                p++;
            }

            if (p == end) {
                break;
            }

            if (x->k != f->name_len) {
                ngsp_xml_syntax(x, "mismatched end tag");
                goto failed;
            }

            x->state = X_ETAG_END;
            break;

        case X_ETAG_END:
            c = *p++;

            if (ngsp_xml_class[c] & C_WS) {
                break;
            }

            if (c != '>') {
                ngsp_xml_syntax(x, "malformed end tag");
                goto failed;
            }

            if (ngsp_xml_element_end(x, p) != 0) {
                goto failed;
            }

            break;

        case X_START:
            c = *p;

            if (c == 0xfe || c == 0xff || c == 0) {
                ngsp_xml_syntax(x, "encoding not utf-8");
                goto failed;
            }

            if (c == 0xef) {
                x->k = 1;
                x->state = X_BOM;
                p++;
                break;
            }

            x->state = X_TEXT;
            break;

        case X_BOM:
            if (*p != (x->k == 1 ? 0xbb : 0xbf)) {
                ngsp_xml_syntax(x, "encoding not utf-8");
                goto failed;
            }

            p++;

            if (++x->k == 3) {
                x->state = X_TEXT;
            }

            break;

        default:
            goto failed;
        }
    }

    /* the feed ends: deliver what is decided, hold back the rest */
    if (x->held && ngsp_xml_held_check(x, end) != 0) {
        goto failed;
    }

    if (x->tact) {
        if (x->held) {
            if (x->tent) {
                x->tent_pend = b->pend_len + (x->tent - x->run);
            }

        } else if (x->tent) {
            if (ngsp_xml_deliver(x, x->run, x->tent) != 0) {
                goto failed;
            }
            x->run = x->tent;
            x->tent_pend = 0;
        }

        if (x->run && ngsp_xml_pend(x, x->run, end - x->run) != 0) {
            goto failed;
        }

        x->tent = NULL;
        x->resume = 1;

    } else {
        if (ngsp_xml_deliver(x, x->run, end) != 0) {
            goto failed;
        }

        x->resume = (x->run != NULL);
    }

    x->run = NULL;

    if (ngsp_mask_out_feed_end(b, size) != 0) {
        goto failed;
    }

    return NGSP_MASK_OK;

failed:

    if (b->status == NGSP_MASK_OK) {
        b->status = NGSP_MASK_ERR_OUTPUT;
        b->why = "output failed";
    }

    /*
     * What is held grows with the position, and is checked at every feed's
     * end: checked here too, it makes the same error whatever the cuts.
     */
    if (x->held && b->status != NGSP_MASK_ERR_OUTPUT
        && b->status != NGSP_MASK_ERR_NOMEM)
    {
        (void) ngsp_xml_held_check(x, p);
    }

    x->state = X_ERROR;
    ngsp_mask_out_stop(b, p - data);
    x->run = NULL;

    return b->status;
}


static ngsp_mask_status_t
ngsp_xml_finish(ngsp_mask_body_t *b)
{
    ngsp_mask_xml_t  *x = (ngsp_mask_xml_t *) b;

    if (x->state == X_ERROR) {
        return b->status;
    }

    if (x->state != X_TEXT || x->depth != 0 || !x->root_done) {
        /* the last feed's end has checked what is held */
        b->status = NGSP_MASK_ERR_TRUNCATED;
        b->why = "truncated document";
        goto failed;
    }

    if (ngsp_mask_out_flush(b) != 0) {
        b->status = NGSP_MASK_ERR_OUTPUT;
        b->why = "output failed";
        goto failed;
    }

    return NGSP_MASK_OK;

failed:

    ngsp_mask_out_stop(b, 0);
    x->state = X_ERROR;

    return b->status;
}


static const ngsp_mask_ops_t  ngsp_xml_ops = {
    .syntax = NGSP_MASK_SYNTAX_XML,
    .size = sizeof(ngsp_mask_xml_t),
    .frame = sizeof(ngsp_xml_frame_t),
    .alloc = ngsp_xml_alloc,
    .free = ngsp_xml_free,
    .reset = ngsp_xml_reset,
    .feed = ngsp_xml_feed,
    .finish = ngsp_xml_finish
};


ngsp_mask_body_t *
ngsp_mask_xml_new(const ngsp_mask_stream_conf_t *conf)
{
    return ngsp_mask_out_new(&ngsp_xml_ops, conf);
}


/* --- a whole document in memory ------------------------------------------ */


typedef struct {
    unsigned char   **buf;
    size_t           *len;
    size_t           *cap;
    size_t            limit;
} ngsp_xml_collect_t;


static int
ngsp_xml_collect(void *data, const unsigned char *p, size_t len,
    unsigned flags)
{
    ngsp_xml_collect_t  *c = data;

    (void) flags;

    if (*c->len + len > c->limit) {
        return -1;
    }

    return ngsp_mask_append(c->buf, c->len, c->cap, p, len);
}


ngsp_mask_status_t
ngsp_mask_xml_string(ngsp_mask_body_t **xp,
    const ngsp_mask_stream_conf_t *conf, const unsigned char *in, size_t len,
    unsigned char **out, size_t *out_len, size_t *out_cap, size_t *masked)
{
    ngsp_mask_body_t         *x;
    ngsp_mask_status_t        st;
    ngsp_xml_collect_t        c;
    ngsp_mask_stream_conf_t   xc;

    *out_len = 0;
    *masked = 0;

    if (*xp == NULL) {
        xc = *conf;
        xc.out = ngsp_xml_collect;
        xc.data = NULL;

        *xp = ngsp_mask_xml_new(&xc);
        if (*xp == NULL) {
            return NGSP_MASK_ERR_NOMEM;
        }

    } else {
        ngsp_mask_body_reset(*xp);
    }

    x = *xp;

    c.buf = out;
    c.len = out_len;
    c.cap = out_cap;
    c.limit = 4 * x->conf.max_value + 4096;
    x->conf.data = &c;

    st = ngsp_xml_feed(x, in, len);
    if (st == NGSP_MASK_OK) {
        st = ngsp_xml_finish(x);
    }

    if (st == NGSP_MASK_ERR_OUTPUT) {
        /* the collector's only failures: too long or out of memory */
        st = NGSP_MASK_ERR_VALUE;
        x->why = "masked document too long";
    }

    x->conf.data = NULL;
    *masked = x->masked;

    return st;
}
