/*
 * Helpers shared by the masking unit tests, fuzzers and benches
 * (mask_util.c): a profile from text ("Sel action; ...; default remove"),
 * runs of the JSON and XML rewriters over an input cut at given points,
 * collecting the output, and the fixtures read from disk.
 */

#ifndef MASK_UTIL_H
#define MASK_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_mask_json.h"
#include "ngsp_mask_xml.h"


/* an output collected by mask_sink_out(), NUL-terminated */
typedef struct {
    unsigned char  *buf;
    size_t          len;
    size_t          cap;
    size_t          calls;
    size_t          from_input;     /* bytes handed out as input spans */
} mask_sink_t;


int mask_sink_out(void *data, const unsigned char *p, size_t len,
    unsigned flags);

/* the runs below give it to ngsp_mask_body_copy_spans(); 0 at first */
extern size_t  mask_span_copy;

/* "SoDinhDanh keep_last=4; Cha.SoDinhDanh hash; default remove" */
ngsp_mask_profile_t *mask_profile(const char *spec);

/*
 * Masks JSON in[0..len) fed in pieces: cuts[] are ascending cut offsets
 * (ncuts of them).  Returns the output (malloc'ed, NUL-terminated) and
 * the status of the run; *stats (if not NULL) gets the sink.
 */
char *mask_run_cuts(const ngsp_mask_profile_t *prof,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    const size_t *cuts, size_t ncuts, size_t max_depth, size_t max_value,
    ngsp_mask_status_t *st, mask_sink_t *stats);

/* JSON in one piece, default limits */
char *mask_run(const ngsp_mask_profile_t *prof, const ngsp_mask_key_t *key,
    const char *in, ngsp_mask_status_t *st);

/* JSON in pieces of n bytes */
char *mask_run_every(const ngsp_mask_profile_t *prof,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    size_t n, ngsp_mask_status_t *st);

/*
 * The same for XML; *why and *masked (if not NULL) get the reason and
 * the count of values masked.
 */
char *xml_run_cuts(const ngsp_mask_profile_t *prof,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    const size_t *cuts, size_t ncuts, size_t max_depth, size_t max_value,
    ngsp_mask_status_t *st, const char **why, size_t *masked);

/* XML in pieces of n bytes */
char *xml_run_every(const ngsp_mask_profile_t *prof,
    const ngsp_mask_key_t *key, const unsigned char *in, size_t len,
    size_t n, ngsp_mask_status_t *st);

/*
 * Ascending cut offsets in (0, len) into cuts[0..max), about one byte in
 * five, from a little generator: the same seed gives the same cuts.
 * Returns how many.
 */
size_t mask_seeded_cuts(unsigned seed, size_t len, size_t *cuts, size_t max);

/* the whole file, malloc'ed and NUL-terminated; NULL if unreadable */
unsigned char *mask_read_file(const char *path, size_t *len);

/*
 * A fixture of the unit tests (run from tests/unit): from $NGSP_FIXTURES
 * or tests/fixtures, the demo's records (congdan.*) from conf/demo.
 * NULL, said on stderr, if unreadable.
 */
unsigned char *mask_fixture(const char *name, size_t *len);

#endif /* MASK_UTIL_H */
