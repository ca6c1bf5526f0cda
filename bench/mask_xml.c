/*
 * Throughput of the streaming XML rewriter on a large SOAP collection of
 * the fixture's shape (CongdanCollection of many CongDan records), side by
 * side in one run:
 *
 *   copy       memcpy of the same bytes in the same pieces: the floor
 *   libxml2    its SAX2 push parser over the same pieces, parse only (no
 *              tree, no output): the yardstick a libxml2-based filter could
 *              not beat, since it would still have to write the output
 *   ngsp deny  ngsp_mask_xml with a deny-list profile, writing the output
 *              (every span copied into an output buffer)
 *   ngsp allow the same with an allow-list profile (default remove)
 *   no hash    the deny-list with redact for the two hash rules: how much
 *              of the deny-list's time goes to HMAC-SHA256
 *
 * Rounds interleave the contenders; figures are medians of CPU time (one
 * thread, so MB/s per core), ratios medians of the per-round ratios.
 *
 * usage: mask_xml FIXTURE [MB] [ROUNDS] [PIECE] [deny|allow|nohash]
 *
 * With a last argument, only that profile runs, once, and nothing is
 * timed: for instruction counts under valgrind --tool=callgrind, which
 * are repeatable where times on a shared machine are not.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#include "mask_util.h"


#define BASIC  "SoDinhDanh keep_last=4; SoCMND keep_last=3; "             \
               "HoVaTen initials; NgayThangNamSinh year; DanToc remove; " \
               "TonGiao remove; Cha.SoDinhDanh hash; Me.SoDinhDanh hash; " \
               "CongdanCollection.@id remove;"
#define ALLOW  BASIC " default remove; GioiTinh pass; QuocTich pass; "    \
               "MaTinhThanh pass;"
/* the same without the hash action, whose HMAC costs as much as a record */
#define NOHASH "SoDinhDanh keep_last=4; SoCMND keep_last=3; "             \
               "HoVaTen initials; NgayThangNamSinh year; DanToc remove; " \
               "TonGiao remove; Cha.SoDinhDanh redact; "                   \
               "Me.SoDinhDanh redact; CongdanCollection.@id remove;"

#define NCONT  5


typedef struct {
    unsigned char  *buf;
    size_t          len;
    size_t          cap;
} out_t;


static const char  *names[NCONT] = {
    "copy", "libxml2 SAX push parse", "ngsp_mask_xml deny-list",
    "ngsp_mask_xml allow-list", "ngsp_mask_xml deny, no hash"
};

static size_t  piece = 8192;
static size_t  sax_elements;


static double
cpu_s(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


static double
median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return v[n / 2];
}


static int
out_write(void *data, const unsigned char *p, size_t len, unsigned flags)
{
    out_t  *o = data;

    if (o->len + len > o->cap) {
        return -1;
    }

    memcpy(o->buf + o->len, p, len);
    o->len += len;

    return 0;
}


static void
sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
    const xmlChar *uri, int nns, const xmlChar **ns, int nattr,
    int ndefaulted, const xmlChar **attrs)
{
    sax_elements++;
}


/* the fixture with its CongDan record repeated until about mb megabytes */
static unsigned char *
build_doc(const char *path, size_t mb, size_t *len, size_t *records)
{
    char    *fix, *rec, *rec_end, *doc, *d;
    size_t   n, rec_len, want;

    fix = (char *) mask_read_file(path, &n);
    if (fix == NULL) {
        perror(path);
        exit(1);
    }

    rec = strstr(fix, "      <dc:CongDan>");
    rec_end = strstr(fix, "</dc:CongDan>\n");
    if (rec == NULL || rec_end == NULL) {
        fprintf(stderr, "mask_xml: no CongDan record in %s\n", path);
        exit(1);
    }

    rec_end += strlen("</dc:CongDan>\n");
    rec_len = rec_end - rec;
    want = mb << 20;

    doc = malloc(want + n + rec_len);
    memcpy(doc, fix, rec - fix);
    d = doc + (rec - fix);
    *records = 0;

    while ((size_t) (d - doc) < want) {
        memcpy(d, rec, rec_len);
        d += rec_len;
        (*records)++;
    }

    memcpy(d, rec_end, fix + n - rec_end);
    d += fix + n - rec_end;
    *len = d - doc;

    free(fix);

    return (unsigned char *) doc;
}


static double
run_copy(const unsigned char *doc, size_t len, out_t *o)
{
    size_t  i, n;
    double  t;

    t = cpu_s();
    o->len = 0;

    for (i = 0; i < len; i += n) {
        n = len - i < piece ? len - i : piece;
        out_write(o, doc + i, n, 0);
    }

    return cpu_s() - t;
}


static double
run_sax(const unsigned char *doc, size_t len)
{
    size_t            i, n;
    double            t;
    xmlSAXHandler     h;
    xmlParserCtxtPtr  ctxt;

    memset(&h, 0, sizeof(h));
    h.initialized = XML_SAX2_MAGIC;
    h.startElementNs = sax_start;

    t = cpu_s();

    ctxt = xmlCreatePushParserCtxt(&h, NULL, NULL, 0, NULL);
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_HUGE);

    for (i = 0; i < len; i += n) {
        n = len - i < piece ? len - i : piece;
        xmlParseChunk(ctxt, (const char *) doc + i, (int) n, 0);
    }

    xmlParseChunk(ctxt, NULL, 0, 1);

    if (!ctxt->wellFormed) {
        fprintf(stderr, "mask_xml: libxml2 refused the document\n");
        exit(1);
    }

    xmlFreeParserCtxt(ctxt);

    return cpu_s() - t;
}


static double
run_ngsp(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const unsigned char *doc, size_t len, out_t *o, size_t *masked)
{
    size_t                   i, n;
    double                   t;
    ngsp_mask_body_t        *x;
    ngsp_mask_stream_conf_t  conf;

    conf.profile = prof;
    conf.key = key;
    conf.max_depth = 0;
    conf.max_value = 0;
    conf.out = out_write;
    conf.data = o;

    t = cpu_s();

    x = ngsp_mask_xml_new(&conf);
    o->len = 0;

    for (i = 0; i < len; i += n) {
        n = len - i < piece ? len - i : piece;
        if (ngsp_mask_body_feed(x, doc + i, n) != NGSP_MASK_OK) {
            break;
        }
    }

    if (ngsp_mask_body_finish(x) != NGSP_MASK_OK) {
        fprintf(stderr, "mask_xml: %s at %zu\n", ngsp_mask_body_reason(x),
                ngsp_mask_body_offset(x));
        exit(1);
    }

    *masked = ngsp_mask_body_masked(x);
    ngsp_mask_body_free(x);

    return cpu_s() - t;
}


int
main(int argc, char **argv)
{
    int                   r, rounds, c;
    size_t                len, records, mb, masked[3], outlen[3];
    double                t[NCONT], mbs[NCONT][64], ratio[NCONT][64],
                          best[NCONT];
    out_t                 o;
    unsigned char        *doc;
    ngsp_mask_key_t      *key;
    ngsp_mask_profile_t  *deny, *allow, *nohash;

    if (argc < 2) {
        fprintf(stderr, "usage: mask_xml FIXTURE [MB] [ROUNDS] [PIECE] "
                "[deny|allow|nohash]\n");
        return 2;
    }

    mb = argc > 2 ? strtoul(argv[2], NULL, 10) : 32;
    rounds = argc > 3 ? atoi(argv[3]) : 7;
    piece = argc > 4 ? strtoul(argv[4], NULL, 10) : 8192;

    if (rounds < 1 || rounds > 64 || piece == 0) {
        return 2;
    }

    xmlInitParser();

    doc = build_doc(argv[1], mb, &len, &records);
    deny = mask_profile(BASIC);
    allow = mask_profile(ALLOW);
    nohash = mask_profile(NOHASH);
    key = ngsp_mask_key_new((const unsigned char *) "bench-key", 9);

    o.cap = 2 * len + 1024;     /* hashes are longer than numbers */
    o.buf = malloc(o.cap);

    if (argc > 5) {
        /* one profile alone, for callgrind */
        c = strcmp(argv[5], "deny") == 0 ? 0
            : strcmp(argv[5], "allow") == 0 ? 1
            : strcmp(argv[5], "nohash") == 0 ? 2 : -1;
        if (c < 0) {
            fprintf(stderr, "mask_xml: %s: deny, allow or nohash\n", argv[5]);
            return 2;
        }

        run_ngsp(c == 0 ? deny : c == 1 ? allow : nohash, key, doc, len, &o,
                 &masked[0]);
        printf("%s: %zu bytes in, %zu out, %zu masked\n", argv[5], len,
               o.len, masked[0]);
        return 0;
    }

    printf("document: %.1f MB, %zu CongDan records, fed in %zu-byte "
           "pieces; %d rounds\n", len / 1048576.0, records, piece, rounds);

    for (r = 0; r < rounds; r++) {
        t[0] = run_copy(doc, len, &o);
        t[1] = run_sax(doc, len);
        t[2] = run_ngsp(deny, key, doc, len, &o, &masked[0]);
        outlen[0] = o.len;
        t[3] = run_ngsp(allow, key, doc, len, &o, &masked[1]);
        outlen[1] = o.len;
        t[4] = run_ngsp(nohash, key, doc, len, &o, &masked[2]);
        outlen[2] = o.len;

        for (c = 0; c < NCONT; c++) {
            mbs[c][r] = len / 1048576.0 / t[c];
            ratio[c][r] = t[1] / t[c];
            if (r == 0 || mbs[c][r] > best[c]) {
                best[c] = mbs[c][r];
            }
        }
    }

    printf("masked values: deny-list %zu (output %.1f MB), allow-list %zu "
           "(output %.1f MB)\n\n", masked[0], outlen[0] / 1048576.0,
           masked[1], outlen[1] / 1048576.0);

    printf("  %-29s %9s %6s  %s\n", "", "MB/s/core", "(best)",
           "vs libxml2 parse");

    for (c = 0; c < NCONT; c++) {
        printf("  %-29s %9.0f %6.0f  %5.2fx\n", names[c],
               median(mbs[c], rounds), best[c], median(ratio[c], rounds));
    }

    ngsp_mask_profile_free(deny);
    ngsp_mask_profile_free(allow);
    ngsp_mask_profile_free(nohash);
    ngsp_mask_key_free(key);
    free(o.buf);
    free(doc);
    xmlCleanupParser();

    return 0;
}
