/*
 * Masking engine throughput on a list response of the fixtures' shape
 * (DanhSachCongDan records from citizens.json, identifiers varied), side
 * by side with a plain copy of the same bytes and a jansson parse-and-dump
 * (what a filter that buffers the body would do).  One thread: MB/s per
 * core.  Medians of repeats.
 *
 *   mask_bench citizens.json [MB] [repeats]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mask_util.h"


#define PIECE  16384        /* what nginx hands a filter at a time */

static unsigned char  *sink_buf;
static size_t          sink_len;


static double
now(void)
{
    struct timespec  ts;

    /* CPU time of this thread: per-core figures on a shared machine */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
cmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* like the nginx glue: input spans are pointed to, engine bytes copied */
static int
out_ref(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    static size_t  at;

    if (!(flags & NGSP_MASK_OUT_INPUT)) {
        /* into recycled 4 KB buffers, as the glue does */
        if (at + len > 4096) {
            at = 0;
        }
        memcpy(sink_buf + at, p, len > 4096 ? 4096 : len);
        at += len;
    }
    sink_len += len;
    return 0;
}


/* everything copied, as a filter without zero-copy would */
static int
out_copy(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    memcpy(sink_buf + sink_len, p, len);
    sink_len += len;
    return 0;
}


static unsigned char *
make_list(const char *path, size_t mb, size_t *len)
{
    char          id[16];
    size_t        i, n;
    json_t       *doc, *list, *recs, *r;
    json_error_t  err;
    char         *text;

    doc = json_load_file(path, 0, &err);
    if (doc == NULL) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        exit(1);
    }

    recs = json_object_get(doc, "DanhSachCongDan");
    list = json_array();
    n = mb * 1024 * 1024 / 1300;

    for (i = 0; i < n; i++) {
        r = json_deep_copy(json_array_get(recs, i % json_array_size(recs)));
        snprintf(id, sizeof(id), "%012zu", 1000000000 + i);
        json_object_set_new(r, "SoDinhDanh", json_string(id));
        json_array_append_new(list, r);
    }

    json_object_set_new(doc, "DanhSachCongDan", list);
    json_object_set_new(doc, "SoCongDan", json_integer(n));

    /* the fixture's own layout: ", " and ": " separators */
    text = json_dumps(doc, JSON_PRESERVE_ORDER);
    json_decref(doc);
    *len = strlen(text);

    return (unsigned char *) text;
}


static double
run_engine(ngsp_mask_profile_t *p, ngsp_mask_key_t *k, unsigned char *in,
    size_t len, ngsp_mask_out_pt out)
{
    double                   t;
    size_t                   off, n;
    ngsp_mask_body_t        *j;
    ngsp_mask_stream_conf_t  c = { 0 };

    c.profile = p;
    c.key = k;
    c.out = out;
    sink_len = 0;

    t = now();
    j = ngsp_mask_json_new(&c);

    for (off = 0; off < len; off += n) {
        n = len - off < PIECE ? len - off : PIECE;
        if (ngsp_mask_body_feed(j, in + off, n) != NGSP_MASK_OK) {
            fprintf(stderr, "engine failed\n");
            exit(1);
        }
    }

    if (ngsp_mask_body_finish(j) != NGSP_MASK_OK) {
        fprintf(stderr, "engine failed at the end\n");
        exit(1);
    }

    ngsp_mask_body_free(j);

    return now() - t;
}


static double
run_copy(unsigned char *in, size_t len)
{
    double  t;
    size_t  off, n;

    t = now();

    for (off = 0; off < len; off += n) {
        n = len - off < PIECE ? len - off : PIECE;
        memcpy(sink_buf + off, in + off, n);
    }

    return now() - t;
}


static double
run_jansson(unsigned char *in, size_t len)
{
    double   t;
    json_t  *doc;

    t = now();

    doc = json_loadb((const char *) in, len, 0, NULL);
    if (doc == NULL || json_dumpb(doc, (char *) sink_buf, 2 * len,
                                  JSON_PRESERVE_ORDER) == 0)
    {
        fprintf(stderr, "jansson failed\n");
        exit(1);
    }

    json_decref(doc);

    return now() - t;
}


static double
median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp);
    return v[n / 2];
}


int
main(int argc, char **argv)
{
    int                   i, reps, eng, only;
    size_t                len, mb;
    double                mbs, t[5][32], m[5];
    unsigned char        *in;
    ngsp_mask_key_t      *key;
    ngsp_mask_profile_t  *basic, *allow;
    const char           *names[5] = {
        "plain copy (memcpy, 16 KB pieces)",
        "jansson parse + dump",
        "ngsp engine, citizen_basic, zero-copy spans",
        "ngsp engine, citizen_basic, every byte copied",
        "ngsp engine, allow-list profile, zero-copy spans"
    };

    if (argc < 2) {
        fprintf(stderr, "usage: mask_bench citizens.json [MB] [repeats]\n");
        return 1;
    }

    mb = argc > 2 ? (size_t) atoi(argv[2]) : 32;
    reps = argc > 3 ? atoi(argv[3]) : 7;
    if (reps > 32) {
        reps = 32;
    }

    in = make_list(argv[1], mb, &len);
    sink_buf = malloc(2 * len + 4096);
    memset(sink_buf, 0, 2 * len + 4096);

    key = ngsp_mask_key_new((const unsigned char *) "bench-key-0123456789abcdef"
                            "0123456789", 36);
    basic = mask_profile("SoDinhDanh keep_last=4; HoVaTen initials; "
                         "NgayThangNamSinh year; SoDienThoai keep_last=3; "
                         "Email email; DanToc remove; TonGiao remove; "
                         "Cha.SoDinhDanh hash; default pass;");
    allow = mask_profile("default remove; MaYeuCau pass; "
                         "SoDinhDanh keep_last=4; HoVaTen initials; "
                         "QuocTich pass; NoiThuongTru pass;");

    /*
     * MASK_BENCH_ENGINE=1: the engines only; MASK_BENCH_ONLY=N: row N only
     * (2, 3 or 4), for instruction counts under callgrind
     */
    eng = getenv("MASK_BENCH_ENGINE") != NULL;
    only = getenv("MASK_BENCH_ONLY") ? atoi(getenv("MASK_BENCH_ONLY")) : -1;

    for (i = 0; i < reps; i++) {
        t[0][i] = (eng || only >= 0) ? 1 : run_copy(in, len);
        t[1][i] = (eng || only >= 0) ? 1 : run_jansson(in, len);
        t[2][i] = (only < 0 || only == 2)
                  ? run_engine(basic, key, in, len, out_ref) : 1;
        t[3][i] = (only < 0 || only == 3)
                  ? run_engine(basic, key, in, len, out_copy) : 1;
        t[4][i] = (only < 0 || only == 4)
                  ? run_engine(allow, key, in, len, out_ref) : 1;
    }

    printf("mask engine: %.1f MB (%zu bytes) list response (%s shape), "
           "median of %d, one core\n", len / 1048576.0, len,
           "DanhSachCongDan", reps);

    for (i = 0; i < 5; i++) {
        m[i] = median(t[i], reps);
        mbs = len / 1048576.0 / m[i];
        printf("  %-50s %9.0f MB/s\n", names[i], mbs);
    }

    printf("  engine (citizen_basic) vs jansson round trip:   %6.1fx\n",
           m[1] / m[2]);

    ngsp_mask_profile_free(basic);
    ngsp_mask_profile_free(allow);
    ngsp_mask_key_free(key);
    free(in);
    free(sink_buf);

    return 0;
}
