/*
 * Helpers shared by the masking unit tests, fuzzer and bench: a profile
 * from text ("Sel action; ...; default remove"), and a run of the JSON
 * rewriter over an input cut at given points, collecting the output.
 */

#ifndef MASK_UTIL_H
#define MASK_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_json.h"


typedef struct {
    unsigned char  *buf;
    size_t          len;
    size_t          cap;
    size_t          calls;
    size_t          from_input;     /* bytes handed out as input spans */
} mask_sink_t;


static int
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


/* "SoDinhDanh keep_last=4; Cha.SoDinhDanh hash; default remove" */
static ngsp_mask_profile_t *
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


/*
 * Each piece is fed from a copy of exactly its size, kept until the run
 * ends: a read past a piece's end, which the word-at-a-time and SSE2
 * scans must never make, then trips ASan (the fuzzers, make asan).
 */
typedef struct {
    unsigned char  **p;
    size_t           n;
} mask_pieces_t;


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


/*
 * Masks in[0..len) fed in pieces: cuts[] are ascending cut offsets
 * (ncuts of them).  Returns the output (malloc'ed, NUL-terminated) and
 * the status of the run.
 */
static char *
mask_run_cuts(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_depth, size_t max_value, ngsp_mask_status_t *st,
    mask_sink_t *stats)
{
    size_t                   i, from, to;
    mask_sink_t              sink;
    mask_pieces_t            ps = { NULL, 0 };
    ngsp_mask_body_t        *j;
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

    j = ngsp_mask_json_new(&conf);
    if (j == NULL) {
        abort();
    }

    *st = NGSP_MASK_OK;
    from = 0;

    for (i = 0; i <= ncuts && *st == NGSP_MASK_OK; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        *st = ngsp_mask_body_feed(j, mask_piece(&ps, in + from, to - from),
                                  to - from);
        from = to;
    }

    if (*st == NGSP_MASK_OK) {
        *st = ngsp_mask_body_finish(j);
    }

    ngsp_mask_body_free(j);
    mask_pieces_free(&ps);

    if (stats) {
        *stats = sink;
    }

    return (char *) sink.buf;
}


/* in one piece, default limits */
static char *
mask_run(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const char *in, ngsp_mask_status_t *st)
{
    return mask_run_cuts(prof, key, (const unsigned char *) in, strlen(in),
                         NULL, 0, 0, 0, st, NULL);
}


/* in pieces of n bytes */
static char *
mask_run_every(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *in, size_t len, size_t n, ngsp_mask_status_t *st)
{
    char    *out;
    size_t   i, k, *cuts;

    cuts = malloc((len / n + 1) * sizeof(size_t));
    for (i = n, k = 0; i < len; i += n) {
        cuts[k++] = i;
    }

    out = mask_run_cuts(prof, key, in, len, cuts, k, 0, 0, st, NULL);
    free(cuts);

    return out;
}


static unsigned char *
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

#endif /* MASK_UTIL_H */
