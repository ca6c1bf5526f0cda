/*
 * Helpers shared by the masking unit tests, fuzzers and benches: see
 * mask_util.h.
 */

#include "mask_util.h"
#include "ngsp_mask_body.h"


/*
 * Each piece is fed from a copy of exactly its size, kept until the run
 * ends: a read past a piece's end, which the word-at-a-time and SSE2
 * scans must never make, then trips ASan (the fuzzers, make asan).
 */
typedef struct {
    unsigned char  **p;
    size_t           n;
} mask_pieces_t;


static const unsigned char *mask_piece(mask_pieces_t *ps,
    const unsigned char *in, size_t len);
static void mask_pieces_free(mask_pieces_t *ps);
static char *mask_run_syntax(ngsp_mask_syntax_t syntax,
    const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_depth, size_t max_value, ngsp_mask_status_t *st,
    mask_sink_t *stats, const char **why, size_t *masked);
static char *mask_run_every_syntax(ngsp_mask_syntax_t syntax,
    const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st);


int
mask_sink_out(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    mask_sink_t  *s = data;

    if (s->len + len + 1 > s->cap) {
        s->cap = (s->len + len + 1) * 2;
        s->buf = realloc(s->buf, s->cap);
        if (s->buf == NULL) {
            abort();
        }
    }

    memcpy(s->buf + s->len, p, len);
    s->len += len;
    s->buf[s->len] = '\0';
    s->calls++;

    if (flags & NGSP_MASK_OUT_INPUT) {
        s->from_input += len;
    }

    return 0;
}


ngsp_mask_profile_t *
mask_profile(const char *spec)
{
    char                  sel[256], act[256], err[256];
    const char           *p, *semi;
    ngsp_mask_action_t    a;
    ngsp_mask_profile_t  *prof;

    prof = ngsp_mask_profile_new();

    for (p = spec; *p; p = semi + 1) {
        semi = strchr(p, ';');
        if (semi == NULL) {
            break;
        }

        while (*p == ' ' || *p == '\n' || *p == '\t') {
            p++;
        }

        if (p == semi) {
            continue;
        }

        if (sscanf(p, "%255s %255[^;]", sel, act) != 2) {
            fprintf(stderr, "bad spec near %s\n", p);
            abort();
        }

        if (strcmp(sel, "default") == 0) {
            ngsp_mask_profile_set_default(prof, strcmp(act, "remove") == 0
                                                ? NGSP_MASK_REMOVE
                                                : NGSP_MASK_PASS);
            continue;
        }

        if (ngsp_mask_action_parse(&a, act, strlen(act), err, sizeof(err))
            != 0
            || ngsp_mask_profile_add(prof, sel, strlen(sel), &a, err,
                                     sizeof(err)) != 0)
        {
            fprintf(stderr, "%s\n", err);
            abort();
        }
    }

    return prof;
}


static const unsigned char *
mask_piece(mask_pieces_t *ps, const unsigned char *in, size_t len)
{
    unsigned char  *c;

    ps->p = realloc(ps->p, (ps->n + 1) * sizeof(*ps->p));
    c = malloc(len ? len : 1);

    if (ps->p == NULL || c == NULL) {
        abort();
    }

    memcpy(c, in, len);
    ps->p[ps->n++] = c;

    return c;
}


static void
mask_pieces_free(mask_pieces_t *ps)
{
    while (ps->n) {
        free(ps->p[--ps->n]);
    }

    free(ps->p);
    ps->p = NULL;
}


size_t  mask_span_copy;


/* one run of either rewriter; stats, why and masked may be NULL */
static char *
mask_run_syntax(ngsp_mask_syntax_t syntax, const ngsp_mask_profile_t *prof,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    const size_t *cuts, size_t ncuts, size_t max_depth, size_t max_value,
    ngsp_mask_status_t *st, mask_sink_t *stats, const char **why,
    size_t *masked)
{
    size_t                   i, from, to;
    mask_sink_t              sink;
    mask_pieces_t            ps = { NULL, 0 };
    ngsp_mask_body_t        *b;
    ngsp_mask_stream_conf_t  conf;

    memset(&sink, 0, sizeof(sink));
    mask_sink_out(&sink, (const unsigned char *) "", 0, 0);
    sink.calls = 0;

    conf.profile = prof;
    conf.key = key;
    conf.max_depth = max_depth;
    conf.max_value = max_value;
    conf.out = mask_sink_out;
    conf.data = &sink;

    b = ngsp_mask_body_new(syntax, &conf);
    if (b == NULL) {
        abort();
    }

    ngsp_mask_body_copy_spans(b, mask_span_copy);

    *st = NGSP_MASK_OK;
    from = 0;

    for (i = 0; i <= ncuts && *st == NGSP_MASK_OK; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        *st = ngsp_mask_body_feed(b, mask_piece(&ps, in + from, to - from),
                                  to - from);
        from = to;
    }

    if (*st == NGSP_MASK_OK) {
        *st = ngsp_mask_body_finish(b);
    }

    if (why) {
        *why = ngsp_mask_body_reason(b);
    }

    if (masked) {
        *masked = ngsp_mask_body_masked(b);
    }

    ngsp_mask_body_free(b);
    mask_pieces_free(&ps);

    if (stats) {
        *stats = sink;
    }

    return (char *) sink.buf;
}


static char *
mask_run_every_syntax(ngsp_mask_syntax_t syntax,
    const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st)
{
    char    *out;
    size_t   i, k, *cuts;

    cuts = malloc((len / n + 1) * sizeof(size_t));
    for (i = n, k = 0; i < len; i += n) {
        cuts[k++] = i;
    }

    out = mask_run_syntax(syntax, prof, key, in, len, cuts, k, 0, 0, st,
                          NULL, NULL, NULL);
    free(cuts);

    return out;
}


char *
mask_run_cuts(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_depth, size_t max_value, ngsp_mask_status_t *st,
    mask_sink_t *stats)
{
    return mask_run_syntax(NGSP_MASK_SYNTAX_JSON, prof, key, in, len, cuts,
                           ncuts, max_depth, max_value, st, stats, NULL,
                           NULL);
}


char *
mask_run(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const char *in, ngsp_mask_status_t *st)
{
    return mask_run_cuts(prof, key, (const unsigned char *) in, strlen(in),
                         NULL, 0, 0, 0, st, NULL);
}


char *
mask_run_every(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st)
{
    return mask_run_every_syntax(NGSP_MASK_SYNTAX_JSON, prof, key, in, len,
                                 n, st);
}


char *
xml_run_cuts(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_depth, size_t max_value, ngsp_mask_status_t *st,
    const char **why, size_t *masked)
{
    return mask_run_syntax(NGSP_MASK_SYNTAX_XML, prof, key, in, len, cuts,
                           ncuts, max_depth, max_value, st, NULL, why,
                           masked);
}


char *
xml_run_every(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st)
{
    return mask_run_every_syntax(NGSP_MASK_SYNTAX_XML, prof, key, in, len,
                                 n, st);
}


size_t
mask_seeded_cuts(unsigned seed, size_t len, size_t *cuts, size_t max)
{
    size_t  i, n;

    n = 0;

    for (i = 1; i < len && n < max; i++) {
        seed = seed * 1103515245 + 12345;
        if ((seed >> 16) % 5 == 0) {
            cuts[n++] = i;
        }
    }

    return n;
}


unsigned char *
mask_read_file(const char *path, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *buf;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc(n + 1);
    if (fread(buf, 1, n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';
    *len = n;

    return buf;
}


unsigned char *
mask_fixture(const char *name, size_t *len)
{
    char            path[512];
    const char     *dir;
    unsigned char  *data;

    if (strncmp(name, "congdan.", 8) == 0) {
        dir = "../../conf/demo";

    } else {
        dir = getenv("NGSP_FIXTURES");
        if (dir == NULL) {
            dir = "../fixtures";
        }
    }

    snprintf(path, sizeof(path), "%s/%s", dir, name);

    data = mask_read_file(path, len);
    if (data == NULL) {
        fprintf(stderr, "cannot read fixture %s (set NGSP_FIXTURES)\n", path);
    }

    return data;
}
