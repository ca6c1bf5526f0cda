/*
 * ngsp streaming JSON rewriter.
 *
 * Hand-written because no Debian-packaged JSON library streams: jansson
 * (and the like) need the whole document in memory, which the masking
 * filter must never hold.
 *
 * One pushdown state machine.  Each value's fate is decided at its first
 * byte (a rule is known once the key is; allow-list mode also needs to know
 * whether the value is a container):
 *
 *   EMIT    passed through as a span of the input
 *   SKIP    removed: no output until it ends
 *   REDACT  "***" written, the value skipped
 *   MASK    a scalar decoded into the value buffer, rewritten at its end
 *
 * A member may be removed, so neither the comma before it nor its key can
 * go out until its fate is known: that stretch (comma, key, colon) is
 * "pending".  Within one feed it stays inside the open input span, which
 * is cut before it only when the member is removed; when a feed ends while
 * a member is pending, the stretch's bytes are held back (bounded) and
 * written first once the member turns out to be kept, so the output is the
 * same however the input was cut.  A comma is kept only when the container
 * already has output before it, so commas stay right however many members
 * around it are removed.
 */

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ngsp_mask_json.h"
#include "ngsp_mask_out.h"
#include "ngsp_mask_xml.h"


typedef enum {
    ST_VALUE = 0,       /* a value is expected */
    ST_ARR_FIRST,       /* after '[': a value or ']' */
    ST_OBJ_FIRST,       /* after '{': a key or '}' */
    ST_OBJ_KEY,         /* after ',' in an object: a key */
    ST_KEY,             /* inside a key */
    ST_COLON,           /* after a key */
    ST_STR,             /* inside a string value */
    ST_LIT,             /* inside a number, true, false or null */
    ST_AFTER,           /* after a value inside a container */
    ST_DONE,            /* after the top-level value */
    ST_ERROR
} ngsp_json_state_t;


typedef enum {
    D_EMIT = 0,
    D_SKIP,
    D_REDACT,
    D_MASK
} ngsp_json_disp_t;


typedef struct {
    unsigned char               type;       /* '{' or '[' */
    unsigned char               skip;       /* no output inside */
    unsigned char               emitted;    /* output after the bracket */
    unsigned char               disp;       /* the container's own fate */
    ngsp_mask_name_t            parent;     /* enclosing key, arrays skipped */
    const ngsp_mask_action_t   *inherit;    /* for scalars inside, or NULL */
} ngsp_json_frame_t;


typedef struct {
    ngsp_mask_body_t            body;       /* first: what is shared */
    ngsp_mask_name_filter_t     names;      /* of the profile */

    ngsp_json_state_t           state;
    size_t                      depth;

    /* the string or literal being read */
    unsigned char               decode;     /* into buf */
    unsigned char               lit_word;
    unsigned char               esc;        /* 0, 1: after '\', 2..5: hex */
    unsigned char               lit_state;
    const char                 *word;
    unsigned                    ucode;
    unsigned                    hi;         /* pending high surrogate */
    ngsp_json_disp_t            disp;       /* of the current scalar */
    const ngsp_mask_action_t   *action;     /* for D_MASK */
    ngsp_mask_name_t            key;        /* id of the last key */

    /* output */
    const unsigned char        *span;       /* open input span, or NULL */
    const unsigned char        *tent;       /* pending stretch start */
    unsigned char               pending;
    unsigned char               carry;      /* pending since an older feed */
    unsigned char               resume;     /* span open across feeds */

    ngsp_mask_body_t           *xml;        /* for the xml action */

    ngsp_json_frame_t           frames[];   /* max_depth of them */
} ngsp_mask_json_t;


/*
 * Constant tables (GNU range designators): nothing to build at run time,
 * so no rewriter depends on a first use in some request.
 */

/* 1: ends a fast run inside a string: '"', '\\', control characters */
static const unsigned char  ngsp_json_str_stop[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1
};

/* 1: may start a value */
static const unsigned char  ngsp_json_value_start[256] = {
    ['0' ... '9'] = 1, ['{'] = 1, ['['] = 1, ['"'] = 1, ['-'] = 1,
    ['t'] = 1, ['f'] = 1, ['n'] = 1
};


static void
ngsp_json_free(ngsp_mask_body_t *b)
{
    ngsp_mask_body_free(((ngsp_mask_json_t *) b)->xml);
}


static void
ngsp_json_reset(ngsp_mask_body_t *b)
{
    ngsp_mask_json_t  *j = (ngsp_mask_json_t *) b;

    ngsp_mask_profile_filter(b->conf.profile, &j->names);
    j->state = ST_VALUE;
    j->depth = 0;
    j->esc = 0;
    j->hi = 0;
    j->span = NULL;
    j->tent = NULL;
    j->pending = 0;
    j->carry = 0;
    j->resume = 1;
}


/* for the helpers of every byte: a call would cost as much as their work */
#if defined(__GNUC__)
#define NGSP_JSON_INLINE  static inline __attribute__((always_inline))
#else
#define NGSP_JSON_INLINE  static inline
#endif


#if defined(__SSE2__)

/* a bit for each of the 16 bytes at p that ends a plain run in a string */
NGSP_JSON_INLINE unsigned
ngsp_json_stops16(const unsigned char *p)
{
    __m128i  v, ctl;

    v = _mm_loadu_si128((const __m128i *) p);
    ctl = _mm_set1_epi8(0x1f);

    return _mm_movemask_epi8(_mm_or_si128(
               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
               _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)));
}


/* a bit for each of the 16 bytes at p that is not a JSON blank */
NGSP_JSON_INLINE unsigned
ngsp_json_solid16(const unsigned char *p)
{
    __m128i  v, ws;

    v = _mm_loadu_si128((const __m128i *) p);
    ws = _mm_or_si128(
             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')),
                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')),
                          _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));

    return ~_mm_movemask_epi8(ws) & 0xffff;
}

#endif


/*
 * The first byte in [p, end) that ends a plain run inside a string ('"',
 * '\\' or a control character); end if none.  Sixteen bytes at a time
 * with SSE2 (every x86-64 has it), the table for the rest.
 */
NGSP_JSON_INLINE const unsigned char *
ngsp_json_scan(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    unsigned  m;

    while (end - p >= 16) {
        m = ngsp_json_stops16(p);
        if (m) {
            return p + __builtin_ctz(m);
        }
        p += 16;
    }
#endif

    while (p < end && !ngsp_json_str_stop[*p]) {
        p++;
    }

    return p;
}


/*
 * 1 if [p, p + len) needs no escape, for an action's result in j->body.res,
 * which has 16 bytes to spare: short results (the most) take one load.
 */
static inline int
ngsp_json_clean_padded(const unsigned char *p, size_t len)
{
#if defined(__SSE2__)
    unsigned  m;

    for ( ;; ) {
        m = ngsp_json_stops16(p);

        if (len <= 16) {
            return (m & ((1u << len) - 1)) == 0;
        }

        if (m) {
            return 0;
        }

        p += 16;
        len -= 16;
    }
#else
    return ngsp_json_scan(p, p + len) == p + len;
#endif
}


/* --- output --------------------------------------------------------------- */


/* a JSON string's content: valid UTF-8 in, escaped as JSON needs */
static int
ngsp_json_put_escaped(ngsp_mask_json_t *j, const unsigned char *p,
    size_t len)
{
    const unsigned char  *q, *end;
    unsigned char         e[6];
    static const char     hex[] = "0123456789abcdef";

    end = p + len;

    while (p < end) {
        q = p;
        p = ngsp_json_scan(p, end);

        if (p > q && ngsp_mask_out_put(&j->body, q, p - q) != 0) {
            return -1;
        }

        if (p == end) {
            break;
        }

        e[0] = '\\';

        if (*p == '"' || *p == '\\') {
            e[1] = *p;
            len = 2;

        } else {
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[*p >> 4];
            e[5] = hex[*p & 0xf];
            len = 6;
        }

        if (ngsp_mask_out_put(&j->body, e, len) != 0) {
            return -1;
        }

        p++;
    }

    return 0;
}


/*
 * A rewritten value, quoted.  Most action results are short and need no
 * escape: then straight into the stage, without a call per piece.
 */
static int
ngsp_json_put_string(ngsp_mask_json_t *j, const unsigned char *p,
    size_t len, int padded)
{
    unsigned char  *s;

    if (len + 2 <= NGSP_MASK_STAGE - j->body.staged
        && (padded ? ngsp_json_clean_padded(p, len)
                   : ngsp_json_scan(p, p + len) == p + len))
    {
        s = j->body.stage + j->body.staged;
        s[0] = '"';

        if (len <= 64) {
            ngsp_mask_copy_short(s + 1, p, len);
        } else {
            memcpy(s + 1, p, len);
        }

        s[len + 1] = '"';
        j->body.staged += len + 2;

        return 0;
    }

    if (ngsp_mask_out_put(&j->body, "\"", 1) != 0
        || ngsp_json_put_escaped(j, p, len) != 0
        || ngsp_mask_out_put(&j->body, "\"", 1) != 0)
    {
        return -1;
    }

    return 0;
}


/* --- decisions ------------------------------------------------------------ */


/*
 * The pending member (or element) is kept: its comma and key go out.
 * Bytes of the current feed are still inside the open span; those held
 * back from older feeds are written first, so the output is the same
 * however the input was cut.  p is where the value starts.
 */
static int
ngsp_json_keep_pending(ngsp_mask_json_t *j, const unsigned char *data,
    const unsigned char *p, ngsp_json_disp_t disp)
{
    if (j->pending) {
        j->pending = 0;
        j->frames[j->depth - 1].emitted = 1;

        if (j->carry) {
            j->carry = 0;

            if (ngsp_mask_out_put(&j->body, j->body.pend, j->body.pend_len)
                != 0)
            {
                return -1;
            }

            j->body.pend_len = 0;
            j->span = data;
        }
    }

    if (disp != D_EMIT) {
        /* the value itself will not come from the input */
        if (ngsp_mask_out_span(&j->body, j->span, p) != 0) {
            return -1;
        }
        j->span = NULL;

    } else if (j->span == NULL) {
        j->span = p;
    }

    return 0;
}


/*
 * The pending stretch (comma, blanks, raw key, colon) is bounded by 8x
 * max_value (a key may be written with \u escapes).  Checked on the whole
 * stretch when the member is decided, and on its held-back part at the
 * end of a feed, so the outcome does not depend on where input was cut.
 */
static int
ngsp_json_stretch_ok(ngsp_mask_json_t *j, const unsigned char *data,
    const unsigned char *p)
{
    size_t  n;

    n = j->carry ? j->body.pend_len + (size_t) (p - data)
                 : (size_t) (p - j->tent);

    if (n > 8 * j->body.conf.max_value) {
        j->body.status = NGSP_MASK_ERR_VALUE;
        return 0;
    }

    return 1;
}


/* the pending member is removed: output stops before its comma */
static int
ngsp_json_drop_pending(ngsp_mask_json_t *j)
{
    if (j->pending && !j->carry) {
        if (ngsp_mask_out_span(&j->body, j->span, j->tent) != 0) {
            return -1;
        }
    }

    j->span = NULL;
    j->pending = 0;
    j->carry = 0;
    j->body.pend_len = 0;

    return 0;
}


/*
 * The fate of the value starting with byte c.  Pushes the frame of a
 * container.  -1 on an output error or when too deep.
 */
static int
ngsp_json_begin_value(ngsp_mask_json_t *j, const unsigned char *data,
    const unsigned char *p)
{
    unsigned char               c = *p;
    int                         container;
    ngsp_json_disp_t            disp;
    ngsp_json_frame_t          *top, *f;
    const ngsp_mask_action_t   *act;
    ngsp_mask_name_t            parent;

    container = (c == '{' || c == '[');
    top = j->depth ? &j->frames[j->depth - 1] : NULL;
    act = NULL;
    parent = 0;

    if (top && top->skip) {
        disp = D_SKIP;
        goto decided;
    }

    if (top) {
        if (top->type == '{') {
            act = j->key ? ngsp_mask_profile_rule(j->body.conf.profile,
                                                  top->parent, j->key)
                         : NULL;
            parent = j->key;

        } else {
            parent = top->parent;
        }

        if (act == NULL) {
            act = top->inherit;
        }
    }

    if (act == NULL) {
        if (container || j->body.dflt != NGSP_MASK_REMOVE) {
            disp = D_EMIT;
        } else {
            /* allow-list: a scalar no rule names; at top level, null */
            disp = top ? D_SKIP : D_REDACT;
        }

    } else {
        switch (act->kind) {
        case NGSP_MASK_PASS:
            disp = D_EMIT;
            break;
        case NGSP_MASK_REMOVE:
            disp = D_SKIP;
            break;
        case NGSP_MASK_REDACT:
            disp = D_REDACT;
            break;
        default:
            /* other actions reach every scalar inside; null stays null */
            disp = (container || c == 'n') ? D_EMIT : D_MASK;
            break;
        }
    }

    if (j->pending && !ngsp_json_stretch_ok(j, data, p)) {
        return -1;
    }

    if (disp == D_SKIP) {
        j->body.masked++;
        if (ngsp_json_drop_pending(j) != 0) {
            return -1;
        }

    } else {
        if (ngsp_json_keep_pending(j, data, p, disp) != 0) {
            return -1;
        }

        if (disp == D_REDACT) {
            j->body.masked++;
            if (ngsp_mask_out_put(&j->body, top ? "\"***\"" : "null",
                              top ? 5 : 4) != 0)
            {
                return -1;
            }
        }
    }

decided:

    j->disp = disp;
    j->action = (disp == D_MASK) ? act : NULL;

    if (!container) {
        return 0;
    }

    if (j->depth == j->body.conf.max_depth) {
        j->body.status = NGSP_MASK_ERR_DEPTH;
        return -1;
    }

    f = &j->frames[j->depth++];
    f->type = c;
    f->skip = (disp == D_SKIP || disp == D_REDACT);
    f->emitted = 0;
    f->disp = disp;
    f->parent = parent;
    f->inherit = (disp == D_EMIT && act && act->kind != NGSP_MASK_REMOVE)
                 ? act : NULL;

    if (!f->skip) {
        /* the first member is pending from just after the bracket */
        j->pending = 1;
        j->carry = 0;
        j->tent = p + 1;
        j->body.pend_len = 0;
    }

    return 0;
}


/*
 * The xml action: the string holds an XML document, masked with
 * the same profile by the XML rewriter and written back as a JSON string.
 * A document the XML rewriter refuses fails the response, as a malformed
 * body does.
 */
static int
ngsp_json_put_xml(ngsp_mask_json_t *j)
{
    size_t                    n, masked;
    ngsp_mask_status_t        st;
    ngsp_mask_stream_conf_t   xc;

    xc = j->body.conf;
    xc.out = NULL;
    xc.data = NULL;

    st = ngsp_mask_xml_string(&j->xml, &xc, j->body.buf, j->body.len,
                              &j->body.res, &n, &j->body.res_cap, &masked);
    if (st != NGSP_MASK_OK) {
        j->body.status = st;
        return -1;
    }

    j->body.masked += masked;

    return ngsp_json_put_string(j, j->body.res, n, 0);
}


/* the string action act applied to the decoded value [p, p + len) */
static int
ngsp_json_put_masked(ngsp_mask_json_t *j, const ngsp_mask_action_t *act,
    const unsigned char *p, size_t len)
{
    size_t             n;
    ngsp_mask_body_t  *b = &j->body;

    /* res has 16 bytes to spare for ngsp_json_clean_padded() */
    n = ngsp_mask_action_out_max(act, len) + 16;

    if (n > b->res_cap && ngsp_mask_grow(&b->res, &b->res_cap, n) != 0) {
        b->status = NGSP_MASK_ERR_NOMEM;
        return -1;
    }

    n = ngsp_mask_action_apply(act, b->conf.key, p, len, b->res);

    return ngsp_json_put_string(j, b->res, n, 1);
}


/*
 * The same for a value read whole without escapes: it holds no quote,
 * backslash or control character, and no action but replace makes one
 * from such text (the others keep characters of it, or write '*', '.',
 * "***", hex digits and U+FFFD).  The result needs no escape, so it goes
 * straight into the stage when there is room.
 */
static int
ngsp_json_put_clean(ngsp_mask_json_t *j, const ngsp_mask_action_t *act,
    const unsigned char *p, size_t len)
{
    size_t             n;
    unsigned char     *s;
    ngsp_mask_body_t  *b = &j->body;

    n = ngsp_mask_action_out_max(act, len);

    if (act->kind == NGSP_MASK_REPLACE || n + 2 > NGSP_MASK_STAGE - b->staged)
    {
        return ngsp_json_put_masked(j, act, p, len);
    }

    s = b->stage + b->staged;
    s[0] = '"';
    n = ngsp_mask_action_apply(act, b->conf.key, p, len, s + 1);
    s[n + 1] = '"';
    b->staged += n + 2;

    return 0;
}


/* a value ended; p_after is the first byte after it */
static int
ngsp_json_end_value(ngsp_mask_json_t *j, ngsp_json_disp_t disp,
    const unsigned char *p_after)
{
    ngsp_mask_body_t  *b = &j->body;

    j->state = j->depth ? ST_AFTER : ST_DONE;

    if (j->depth && j->frames[j->depth - 1].skip) {
        return 0;
    }

    switch (disp) {

    case D_EMIT:
        return 0;

    case D_MASK:
        b->masked++;

        if (j->action->kind == NGSP_MASK_XML) {
            if (ngsp_json_put_xml(j) != 0) {
                return -1;
            }
            break;
        }

        /* an empty value may have left buf unallocated */
        if (b->buf == NULL && ngsp_mask_grow(&b->buf, &b->buf_cap, 1) != 0) {
            b->status = NGSP_MASK_ERR_NOMEM;
            return -1;
        }

        if (ngsp_json_put_masked(j, j->action, b->buf, b->len) != 0) {
            return -1;
        }
        break;

    default:
        break;
    }

    j->span = p_after;

    return 0;
}


/* --- the state machine ---------------------------------------------------- */


/*
 * n more decoded bytes of the current key or scalar: every one is counted
 * against max_value, held or not (a passed value streams but is bounded
 * all the same, across feeds); only a key or masked value is copied.
 */
static int
ngsp_json_append(ngsp_mask_json_t *j, const unsigned char *p, size_t n)
{
    ngsp_mask_body_t  *b = &j->body;

    if (n > b->conf.max_value - b->len) {
        b->status = NGSP_MASK_ERR_VALUE;
        return -1;
    }

    if (!j->decode) {
        b->len += n;
        return 0;
    }

    if (ngsp_mask_append(&b->buf, &b->len, &b->buf_cap, p, n) != 0) {
        b->status = NGSP_MASK_ERR_NOMEM;
        return -1;
    }

    return 0;
}


static int
ngsp_json_append_cp(ngsp_mask_json_t *j, unsigned cp)
{
    unsigned char  u[4];

    return ngsp_json_append(j, u, ngsp_mask_utf8(u, cp));
}


static int
ngsp_json_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* a high surrogate not followed by its low half decodes as U+FFFD */
static int
ngsp_json_flush_hi(ngsp_mask_json_t *j)
{
    if (j->hi == 0) {
        return 0;
    }

    j->hi = 0;

    return ngsp_json_append_cp(j, 0xfffd);
}


/* one escape character after '\' or a hex digit; -1 on error */
static int
ngsp_json_escape(ngsp_mask_json_t *j, unsigned char c)
{
    int            h;
    unsigned       cp;
    unsigned char  d;

    if (j->esc == 1) {
        switch (c) {
        case '"': d = '"'; break;
        case '\\': d = '\\'; break;
        case '/': d = '/'; break;
        case 'b': d = '\b'; break;
        case 'f': d = '\f'; break;
        case 'n': d = '\n'; break;
        case 'r': d = '\r'; break;
        case 't': d = '\t'; break;
        case 'u':
            j->esc = 2;
            j->ucode = 0;
            return 0;
        default:
            j->body.status = NGSP_MASK_ERR_SYNTAX;
            return -1;
        }

        j->esc = 0;

        if (ngsp_json_flush_hi(j) != 0) {
            return -1;
        }

        return ngsp_json_append(j, &d, 1);
    }

    h = ngsp_json_hex(c);
    if (h < 0) {
        j->body.status = NGSP_MASK_ERR_SYNTAX;
        return -1;
    }

    j->ucode = (j->ucode << 4) | h;

    if (j->esc < 5) {
        j->esc++;
        return 0;
    }

    j->esc = 0;
    cp = j->ucode;

    if (cp >= 0xdc00 && cp <= 0xdfff && j->hi) {
        cp = 0x10000 + ((j->hi - 0xd800) << 10) + (cp - 0xdc00);
        j->hi = 0;

    } else {
        if (ngsp_json_flush_hi(j) != 0) {
            return -1;
        }

        if (cp >= 0xd800 && cp <= 0xdbff) {
            j->hi = cp;
            return 0;
        }

        if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0xfffd;
        }
    }

    return ngsp_json_append_cp(j, cp);
}


/*
 * Number grammar (RFC 8259): 1 after '-', 2 a leading zero, 3 integer
 * digits, 4 after '.', 5 fraction, 6 after 'e', 7 after its sign, 8
 * exponent.  Returns the next state, 0 when c ends the number (only from
 * an accepting state), -1 when the number is malformed.
 */
static int
ngsp_json_num(int s, unsigned char c)
{
    int  digit = (c >= '0' && c <= '9');

    switch (s) {
    case 1:
        return c == '0' ? 2 : digit ? 3 : -1;
    case 2:
        return c == '.' ? 4 : (c | 0x20) == 'e' ? 6 : digit ? -1 : 0;
    case 3:
        return digit ? 3 : c == '.' ? 4 : (c | 0x20) == 'e' ? 6 : 0;
    case 4:
        return digit ? 5 : -1;
    case 5:
        return digit ? 5 : (c | 0x20) == 'e' ? 6 : 0;
    case 6:
        return (c == '+' || c == '-') ? 7 : digit ? 8 : -1;
    case 7:
        return digit ? 8 : -1;
    default:
        return digit ? 8 : 0;
    }
}


/*
 * Goes straight to the code of the state just entered (j->state is set),
 * sparing a dispatch per token; at the end of the input, leaves the loop.
 */
#define NEXT(label)                                                          \
    if (p < end) {                                                           \
        goto label;                                                          \
    }                                                                        \
    break


static int
ngsp_json_is_ws(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}


/*
 * Past the blanks at p (none if *p is not one): the single blank of ", "
 * and ": " in one test, any run of them otherwise (a pretty-printed
 * line's indentation sixteen bytes at a time with SSE2).  end if they end
 * the feed.
 */
NGSP_JSON_INLINE const unsigned char *
ngsp_json_blanks(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    unsigned  m;
#endif

    if (*p == ' ' && p + 1 < end && p[1] > ' ') {
        return p + 1;
    }

#if defined(__SSE2__)
    while (end - p >= 16) {
        m = ngsp_json_solid16(p);
        if (m) {
            return p + __builtin_ctz(m);
        }
        p += 16;
    }
#endif

    while (p < end && ngsp_json_is_ws(*p)) {
        p++;
    }

    return p;
}


/* past the blanks at p, if any; end if they end the feed */
NGSP_JSON_INLINE const unsigned char *
ngsp_json_skip(const unsigned char *p, const unsigned char *end)
{
    if (p == end || *p > ' ') {
        return p;
    }

    return ngsp_json_blanks(p, end);
}


/*
 * The same where a line break is likely, between the members of a
 * pretty-printed object: its indentation is spaces, one compare each.
 */
NGSP_JSON_INLINE const unsigned char *
ngsp_json_skip_line(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    unsigned              m;
    const unsigned char  *q;

    if (end - p > 16 && *p == '\n') {
        m = ~_mm_movemask_epi8(_mm_cmpeq_epi8(
                 _mm_loadu_si128((const __m128i *) (p + 1)),
                 _mm_set1_epi8(' '))) & 0xffff;

        if (m) {
            q = p + 1 + __builtin_ctz(m);

            if (*q > ' ') {
                return q;
            }
        }
    }
#endif

    return ngsp_json_skip(p, end);
}


/*
 * c is the byte at p after any blanks; leaves the loop when the blanks end
 * the feed.
 */
#define BLANKS()                                                             \
    c = *p;                                                                  \
    if (c <= ' ') {                                                          \
        p = ngsp_json_blanks(p, end);                                        \
        if (p == end) {                                                      \
            break;                                                           \
        }                                                                    \
        c = *p;                                                              \
    }


static ngsp_mask_status_t
ngsp_json_feed(ngsp_mask_body_t *b, const unsigned char *data, size_t size)
{
    int                   s;
    size_t                n;
    unsigned char         c;
    const unsigned char         *p, *q, *v, *end;
    ngsp_json_frame_t           *top, *f;
    const ngsp_mask_action_t    *act;
    ngsp_mask_json_t            *j = (ngsp_mask_json_t *) b;

    if (j->state == ST_ERROR) {
        return b->status;
    }

    /* the innermost container, kept up to date as depth changes */
    top = j->depth ? &j->frames[j->depth - 1] : NULL;

    p = data;
    end = data + size;

    /* what was open when the last feed ended continues here */
    j->span = (j->resume && !j->carry) ? data : NULL;
    j->tent = j->pending ? data : NULL;

    while (p < end) {

        switch (j->state) {

        case ST_STR:
        case ST_KEY:
        string:
            if (j->esc) {
                if (ngsp_json_escape(j, *p) != 0) {
                    goto failed;
                }
                p++;
                break;
            }

            q = p;
            p = ngsp_json_scan(p, end);

            if (p > q) {
                if (j->hi && ngsp_json_flush_hi(j) != 0) {
                    goto failed;
                }
                if (ngsp_json_append(j, q, p - q) != 0) {
                    goto failed;
                }
            }

            if (p == end) {
                break;
            }

            c = *p;

            if (c == '\\') {
                j->esc = 1;
                p++;
                break;
            }

            if (c != '"') {
                /* a raw control character */
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            if (ngsp_json_flush_hi(j) != 0) {
                goto failed;
            }

            p++;

            if (j->state == ST_KEY) {
                j->key = j->decode
                         ? ngsp_mask_profile_name(b->conf.profile, b->buf,
                                                  b->len)
                         : 0;
                j->state = ST_COLON;
                NEXT(colon);
            }

            if (j->disp == D_EMIT && j->depth) {
                /* a passed value inside a container: nothing to do */
                j->state = ST_AFTER;
                NEXT(after);
            }

            if (ngsp_json_end_value(j, j->disp, p) != 0) {
                goto failed;
            }

            if (j->state == ST_AFTER) {
                NEXT(after);
            }

            break;

        case ST_LIT:
            c = *p;

            if (j->lit_word) {
                if (c != (unsigned char) j->word[j->lit_state]) {
                    b->status = NGSP_MASK_ERR_SYNTAX;
                    goto failed;
                }

                if (ngsp_json_append(j, p, 1) != 0) {
                    goto failed;
                }

                p++;

                if (j->word[++j->lit_state] == '\0'
                    && ngsp_json_end_value(j, j->disp, p) != 0)
                {
                    goto failed;
                }

                break;
            }

            s = ngsp_json_num(j->lit_state, c);

            if (s < 0) {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            if (s == 0) {
                /* c is not part of the number: read it again */
                if (ngsp_json_end_value(j, j->disp, p) != 0) {
                    goto failed;
                }
                break;
            }

            j->lit_state = s;

            if (ngsp_json_append(j, p, 1) != 0) {
                goto failed;
            }

            p++;
            break;

        case ST_AFTER:
        after:
            BLANKS();

            if (c == ',') {
                if (top->type == '{' && top->emitted && !top->skip
                    && top->inherit == NULL && j->span != NULL
                    && b->dflt != NGSP_MASK_REMOVE)
                {
                    goto member;
                }

                if (!top->skip) {
                    if (top->emitted) {
                        j->tent = p;

                    } else {
                        /* nothing before it: the comma goes */
                        if (ngsp_mask_out_span(b, j->span, p) != 0) {
                            goto failed;
                        }
                        j->span = p + 1;
                        j->tent = p + 1;
                    }

                    /* carry and pend_len are 0: the last member is
                     * decided */
                    j->pending = 1;
                }

                p++;

                if (top->type == '{') {
                    j->state = ST_OBJ_KEY;
                    NEXT(obj_key);
                }

                j->state = ST_VALUE;
                NEXT(value);
            }

            if (c != (top->type == '{' ? '}' : ']')) {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            goto close;

        member:

            /*
             * p is at a comma in an object that passes what no rule names
             * and has output before it.  The common member (a key, whole
             * in this feed and without escapes, then a string value the
             * same, kept as it is or under a rule of its own) is read here
             * in one go.  Any other leaves for the general states at the
             * first place it differs, with what they would have set by
             * then, so the output is the same.
             */
            j->tent = p;
            j->pending = 1;
            p++;

        member_key:

            /* p is where the key may start, the member pending */
            q = ngsp_json_skip_line(p, end);

            if (q == end || *q != '"') {
                j->state = ST_OBJ_KEY;
                NEXT(obj_key);
            }

            v = q + 1;
            q = ngsp_json_scan(v, end);
            n = q - v;

            if (q == end || *q != '"' || n > b->conf.max_value) {
                j->state = ST_OBJ_KEY;
                NEXT(obj_key);
            }

            j->decode = 1;
            j->key = ngsp_mask_name_may_be(&j->names, v, n)
                     ? ngsp_mask_profile_lookup(b->conf.profile, v, n)
                     : 0;
            p = q + 1;

            q = ngsp_json_skip(p, end);

            if (j->key) {
                goto rule;
            }

            if (q == end || *q != ':') {
                j->state = ST_COLON;
                NEXT(colon);
            }

            p = q + 1;
            q = ngsp_json_skip(p, end);

            if (q == end || (size_t) (q - j->tent) > 8 * b->conf.max_value) {
                j->state = ST_VALUE;
                NEXT(value);
            }

            if (*q == '{' && j->depth < b->conf.max_depth) {
                /* a nested object no rule names: kept, entered */
                j->pending = 0;
                top->emitted = 1;
                j->disp = D_EMIT;
                j->action = NULL;

                top = &j->frames[j->depth++];
                top->type = '{';
                top->skip = 0;
                top->emitted = 0;
                top->disp = D_EMIT;
                top->parent = 0;
                top->inherit = NULL;

                /* its first member is pending from just after the brace */
                j->pending = 1;
                j->tent = q + 1;
                p = q + 1;
                j->state = ST_OBJ_FIRST;
                NEXT(first);
            }

            if (*q != '"') {
                j->state = ST_VALUE;
                NEXT(value);
            }

            v = ngsp_json_scan(q + 1, end);

            if (v == end || *v != '"'
                || (size_t) (v - q - 1) > b->conf.max_value)
            {
                j->state = ST_VALUE;
                p = q;
                goto value;
            }

            /* kept as it is: the open span goes on over it */
            j->pending = 0;
            top->emitted = 1;
            j->disp = D_EMIT;
            j->action = NULL;
            p = v + 1;

            if (p < end && *p == ',') {
                goto member;
            }

            j->state = ST_AFTER;
            NEXT(after);

        rule:

            /*
             * The member's key names a rule; p is past the key, q past the
             * blanks after it.  A string value, whole in this feed and
             * without escapes, under a rule that removes, redacts or
             * rewrites it, is done here as ngsp_json_begin_value() and
             * ngsp_json_end_value() would; anything else goes on from
             * the colon the general way.
             */
            if (q == end || *q != ':') {
                j->state = ST_COLON;
                NEXT(colon);
            }

            v = ngsp_json_skip(q + 1, end);

            if (v == end || *v != '"'
                || (size_t) (v - j->tent) > 8 * b->conf.max_value)
            {
                j->state = ST_COLON;
                NEXT(colon);
            }

            act = ngsp_mask_profile_rule(b->conf.profile, top->parent,
                                         j->key);
            q = ngsp_json_scan(v + 1, end);
            n = q - v - 1;

            if (act == NULL || act->kind == NGSP_MASK_PASS
                || act->kind == NGSP_MASK_XML
                || q == end || *q != '"' || n > b->conf.max_value)
            {
                j->state = ST_COLON;
                NEXT(colon);
            }

            b->masked++;
            j->pending = 0;
            j->action = NULL;

            if (act->kind == NGSP_MASK_REMOVE) {
                /* output stops before the comma */
                j->disp = D_SKIP;

                if (ngsp_mask_out_span(b, j->span, j->tent) != 0) {
                    goto failed;
                }

            } else {
                top->emitted = 1;

                if (ngsp_mask_out_span(b, j->span, v) != 0) {
                    goto failed;
                }

                if (act->kind == NGSP_MASK_REDACT) {
                    j->disp = D_REDACT;

                    if (ngsp_mask_out_put(b, "\"***\"", 5) != 0) {
                        goto failed;
                    }

                } else {
                    /* without escapes, the value decoded is as written */
                    j->disp = D_MASK;
                    j->action = act;
                    j->span = NULL;

                    if (ngsp_json_put_clean(j, act, v + 1, n) != 0) {
                        goto failed;
                    }
                }
            }

            p = q + 1;
            j->span = p;

            if (p < end && *p == ',' && top->emitted) {
                goto member;
            }

            j->state = ST_AFTER;
            NEXT(after);

        case ST_OBJ_FIRST:
        case ST_ARR_FIRST:
        first:
            BLANKS();

            if (c == (j->state == ST_OBJ_FIRST ? '}' : ']')) {
                goto close;
            }

            if (j->state == ST_ARR_FIRST) {
                j->state = ST_VALUE;
                goto value;
            }

            if (!top->skip && top->inherit == NULL && j->span != NULL
                && !j->carry && b->dflt != NGSP_MASK_REMOVE)
            {
                /* the first member: pending from just after the brace */
                goto member_key;
            }

            /* fall through */

        case ST_OBJ_KEY:
        obj_key:
            BLANKS();

            if (c != '"') {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            p++;
            j->decode = !top->skip;

            /* the common key: whole in this feed, no escape; no copy */
            q = ngsp_json_scan(p, end);

            if (q < end && *q == '"') {
                n = q - p;

                if (n > b->conf.max_value) {
                    b->status = NGSP_MASK_ERR_VALUE;
                    goto failed;
                }

                j->key = (j->decode && ngsp_mask_name_may_be(&j->names, p, n))
                         ? ngsp_mask_profile_lookup(b->conf.profile, p, n)
                         : 0;
                p = q + 1;
                j->state = ST_COLON;
                NEXT(colon);
            }

            j->state = ST_KEY;
            b->len = 0;
            j->esc = 0;
            j->hi = 0;
            NEXT(string);

        case ST_COLON:
        colon:
            BLANKS();

            if (c != ':') {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            j->state = ST_VALUE;
            p++;
            NEXT(value);

        case ST_VALUE:
        value:
            BLANKS();

            if (ngsp_json_value_start[c]) {

                if (top && c != '{' && c != '[' && !top->skip && !j->carry
                    && top->inherit == NULL
                    && (top->type == '[' || j->key == 0))
                {
                    /*
                     * The common scalar: no rule names it, nor its
                     * container's; decided here without the general
                     * walk of ngsp_json_begin_value().
                     */
                    if (j->pending
                        && (size_t) (p - j->tent) > 8 * b->conf.max_value)
                    {
                        b->status = NGSP_MASK_ERR_VALUE;
                        goto failed;
                    }

                    j->action = NULL;

                    if (b->dflt != NGSP_MASK_REMOVE) {
                        j->disp = D_EMIT;

                        if (j->pending) {
                            j->pending = 0;
                            top->emitted = 1;
                        }

                        if (j->span == NULL) {
                            j->span = p;
                        }

                    } else {
                        /* allow-list: removed */
                        j->disp = D_SKIP;
                        b->masked++;

                        if (ngsp_json_drop_pending(j) != 0) {
                            goto failed;
                        }
                    }

                } else {
                    if (ngsp_json_begin_value(j, data, p) != 0) {
                        goto failed;
                    }

                    top = j->depth ? &j->frames[j->depth - 1] : NULL;
                }

            } else {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }

            p++;

            if (c == '{') {
                j->state = ST_OBJ_FIRST;
                NEXT(first);

            } else if (c == '[') {
                j->state = ST_ARR_FIRST;
                NEXT(first);

            } else if (c == '"') {
                if (j->disp != D_MASK && top) {
                    /* the common value: whole here, no escape, not held */
                    q = ngsp_json_scan(p, end);

                    if (q < end && *q == '"'
                        && (size_t) (q - p) <= b->conf.max_value)
                    {
                        p = q + 1;

                        if (j->disp != D_EMIT && !top->skip) {
                            /* output goes on after a removed value */
                            j->span = p;
                        }

                        j->state = ST_AFTER;
                        NEXT(after);
                    }

                } else if (j->disp == D_MASK) {
                    /* a value to rewrite, whole here, no escape: copied
                     * into buf at once */
                    q = ngsp_json_scan(p, end);
                    n = q - p;

                    if (q < end && *q == '"' && n <= b->conf.max_value) {
                        if (n > b->buf_cap
                            && ngsp_mask_grow(&b->buf, &b->buf_cap, n) != 0)
                        {
                            b->status = NGSP_MASK_ERR_NOMEM;
                            goto failed;
                        }

                        if (n) {
                            /* an empty value may leave buf unallocated */
                            memcpy(b->buf, p, n);
                        }

                        b->len = n;
                        p = q + 1;

                        if (ngsp_json_end_value(j, D_MASK, p) != 0) {
                            goto failed;
                        }

                        if (j->state == ST_AFTER) {
                            NEXT(after);
                        }

                        break;
                    }
                }

                j->state = ST_STR;
                j->decode = (j->disp == D_MASK);
                b->len = 0;
                j->esc = 0;
                j->hi = 0;
                NEXT(string);

            } else {
                j->state = ST_LIT;
                j->decode = (j->disp == D_MASK);
                b->len = 0;

                if (ngsp_json_append(j, p - 1, 1) != 0) {
                    goto failed;
                }

                if (c == 't' || c == 'f' || c == 'n') {
                    j->lit_word = 1;
                    j->word = (c == 't') ? "true" : (c == 'f') ? "false"
                                                               : "null";
                    j->lit_state = 1;

                } else {
                    j->lit_word = 0;
                    j->lit_state = (c == '-') ? 1 : (c == '0') ? 2 : 3;
                }
            }

            break;

        case ST_DONE:
            if (!ngsp_json_is_ws(*p)) {
                b->status = NGSP_MASK_ERR_SYNTAX;
                goto failed;
            }
            p++;
            break;

        default:
            goto failed;
        }

        continue;

    close:

        /* p is at the closing bracket of the innermost container */
        f = top;

        if (j->pending) {
            /* only blanks were pending (an empty container) */
            if (!ngsp_json_stretch_ok(j, data, p)) {
                goto failed;
            }
            j->pending = 0;
            if (j->carry) {
                j->carry = 0;
                if (ngsp_mask_out_put(b, b->pend, b->pend_len) != 0) {
                    goto failed;
                }
                b->pend_len = 0;
                j->span = data;
            }
        }

        j->depth--;
        top = j->depth ? &j->frames[j->depth - 1] : NULL;
        p++;

        if (f->disp == D_EMIT) {
            /* all ngsp_json_end_value() would do; on without a dispatch */
            if (j->depth == 0) {
                j->state = ST_DONE;
                continue;
            }

            j->state = ST_AFTER;

            if (p < end) {
                goto after;
            }

            continue;
        }

        if (ngsp_json_end_value(j, (ngsp_json_disp_t) f->disp, p) != 0) {
            goto failed;
        }
    }

    /* the feed ends: flush what is decided, hold back what is pending */
    if (j->pending) {
        if (!ngsp_json_stretch_ok(j, data, end)) {
            goto failed;
        }

        if (!j->carry) {
            if (ngsp_mask_out_span(b, j->span, j->tent) != 0) {
                goto failed;
            }
            q = j->tent;
            j->carry = 1;
            j->span = NULL;

        } else {
            q = data;
        }

        if (ngsp_mask_append(&b->pend, &b->pend_len, &b->pend_cap, q, end - q)
            != 0)
        {
            b->status = NGSP_MASK_ERR_NOMEM;
            goto failed;
        }
    }

    if (ngsp_mask_out_span(b, j->span, end) != 0) {
        goto failed;
    }

    j->resume = (j->span != NULL);
    j->span = NULL;
    j->tent = NULL;

    if (ngsp_mask_out_feed_end(b, size) != 0) {
        goto failed;
    }

    return NGSP_MASK_OK;

failed:

    j->state = ST_ERROR;
    ngsp_mask_out_stop(b, p - data);
    j->span = NULL;

    return b->status;
}


static ngsp_mask_status_t
ngsp_json_finish(ngsp_mask_body_t *b)
{
    ngsp_mask_json_t            *j = (ngsp_mask_json_t *) b;
    static const unsigned char   none;

    if (j->state == ST_ERROR) {
        return b->status;
    }

    if (j->state == ST_LIT && j->depth == 0 && !j->lit_word) {
        /* a top-level number ends with the input */
        if (ngsp_json_num(j->lit_state, ' ') != 0) {
            b->status = NGSP_MASK_ERR_TRUNCATED;
            goto failed;
        }

        j->span = NULL;
        if (ngsp_json_end_value(j, j->disp, &none) != 0) {
            goto failed;
        }
    }

    if (j->state != ST_DONE) {
        b->status = NGSP_MASK_ERR_TRUNCATED;
        goto failed;
    }

    if (ngsp_mask_out_flush(b) != 0) {
        goto failed;
    }

    return NGSP_MASK_OK;

failed:

    ngsp_mask_out_stop(b, 0);
    j->state = ST_ERROR;

    return b->status;
}


static const ngsp_mask_ops_t  ngsp_json_ops = {
    .syntax = NGSP_MASK_SYNTAX_JSON,
    .size = sizeof(ngsp_mask_json_t),
    .frame = sizeof(ngsp_json_frame_t),
    .alloc = NULL,              /* value buffers grow on demand */
    .free = ngsp_json_free,
    .reset = ngsp_json_reset,
    .feed = ngsp_json_feed,
    .finish = ngsp_json_finish
};


ngsp_mask_body_t *
ngsp_mask_json_new(const ngsp_mask_stream_conf_t *conf)
{
    return ngsp_mask_out_new(&ngsp_json_ops, conf);
}
