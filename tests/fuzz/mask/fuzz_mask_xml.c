/*
 * libFuzzer target for the streaming XML rewriter.  The first byte picks
 * the profile (deny-list or allow-list) and how the rest is cut into
 * feeds.  Besides "no crash":
 *
 *   - the status is the same for one feed and for the cut feeds, and so is
 *     the output when the status is ok, and the whole-document form used
 *     by the xml action gives that output too;
 *   - when libxml2 (an independent parser) finds the input well formed,
 *     the rewriter accepts it unless it has a DOCTYPE or an encoding
 *     declaration, or a limit was hit; and its output is well formed too;
 *   - when the rewriter accepts it, no text node (its text and CDATA
 *     sections, across comments) and no attribute value or namespace
 *     name of the input is longer than max_value in libxml2's tree;
 *   - nothing the profile masks survives (checked on libxml2's tree of
 *     the output): no element R, no attribute T, an S holds "***" (except
 *     N.S, which passes), a U attribute is "***", a text or attribute
 *     under K shows only '*' before its last two characters, and in
 *     allow-list mode no text or attribute outside A, K and S.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mask_xml_util.h"

#include <libxml/tree.h>


#define MAX_VALUE  256


typedef enum {
    CTX_NONE = 0,
    CTX_PASS,
    CTX_KEEP,
    CTX_REDACT,
    CTX_EMPTY,          /* a removed root: nothing inside */
    CTX_OTHER           /* an action the checker does not follow */
} ctx_t;


static ngsp_mask_profile_t  *profiles[2];
static ngsp_mask_key_t      *key;
static ngsp_mask_body_t     *whole[2];    /* kept between runs */
static unsigned char        *wbuf;
static size_t                wcap;


static int
is_blank(const xmlChar *s)
{
    for ( /* void */ ; *s; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
            return 0;
        }
    }

    return 1;
}


/* keep_last=2: code points before the last two are all '*' */
static void
check_keep(const xmlChar *s)
{
    size_t  i, n, cp, k;

    n = strlen((const char *) s);

    for (cp = 0, i = 0; i < n; i++) {
        cp += (s[i] & 0xc0) != 0x80;
    }

    for (k = 0, i = 0; i < n && k + 2 < cp; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            if (s[i] != '*') {
                abort();
            }
            k++;
        }
    }
}


static void
check_value(const xmlChar *s, ctx_t ctx, int allow)
{
    switch (ctx) {

    case CTX_KEEP:
        if (!is_blank(s)) {
            check_keep(s);
        }
        break;

    case CTX_REDACT:
        if (*s && strcmp((const char *) s, "***") != 0) {
            abort();
        }
        break;

    case CTX_EMPTY:
        abort();

    case CTX_NONE:
        if (allow && !is_blank(s)) {
            abort();
        }
        break;

    default:
        break;
    }
}


/* by local name: what follows the last ':' (libxml2 keeps odd ones whole) */
static int
named(const xmlChar *name, const char *s)
{
    const char  *colon;

    colon = strrchr((const char *) name, ':');

    return strcmp(colon ? colon + 1 : (const char *) name, s) == 0;
}


static void
check_element(xmlNodePtr e, const xmlChar *parent, ctx_t ctx, int allow)
{
    int         elements;
    xmlChar    *v;
    xmlAttrPtr  a;
    xmlNodePtr  c;

    if (named(e->name, "R")) {
        if (parent) {
            abort();
        }
        ctx = CTX_EMPTY;

    } else if (named(e->name, "S")) {
        ctx = (!allow && parent && named(parent, "N")) ? CTX_PASS
                                                       : CTX_REDACT;
    } else if (named(e->name, "K")) {
        ctx = CTX_KEEP;

    } else if (allow && named(e->name, "A")) {
        ctx = CTX_PASS;

    } else if (!allow && named(e->name, "H")) {
        ctx = CTX_OTHER;
    }

    for (a = e->properties; a; a = a->next) {
        /* a declaration libxml2 found malformed stays an attribute */
        if (strncmp((const char *) a->name, "xmlns", 5) == 0
            || (a->ns && a->ns->prefix
                && named(a->ns->prefix, "xmlns")))
        {
            continue;
        }

        if (!allow && named(a->name, "T")) {
            abort();
        }

        v = xmlNodeGetContent((xmlNodePtr) a);
        check_value(v ? v : (const xmlChar *) "",
                    named(a->name, "U") ? CTX_REDACT : ctx, allow);
        xmlFree(v);
    }

    elements = 0;

    for (c = e->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            elements++;
            check_element(c, e->name, ctx, allow);

        } else if (c->type == XML_TEXT_NODE
                   || c->type == XML_CDATA_SECTION_NODE)
        {
            check_value(c->content, ctx == CTX_EMPTY && is_blank(c->content)
                                    ? CTX_PASS : ctx, allow);
        }
    }

    if (elements && (ctx == CTX_REDACT || ctx == CTX_EMPTY)) {
        abort();
    }
}


/*
 * Nothing of the input over max_value: the rewriter counts decoded bytes
 * of each text node and attribute value; libxml2's are never longer (it
 * folds "\r\n" to one byte), so a longer one here was let through.
 */
static void
check_bounds(xmlNodePtr e)
{
    size_t      run;
    xmlNs      *ns;
    xmlChar    *v;
    xmlAttrPtr  a;
    xmlNodePtr  c;

    for (a = e->properties; a; a = a->next) {
        v = xmlNodeGetContent((xmlNodePtr) a);
        if (v && strlen((const char *) v) > MAX_VALUE) {
            abort();
        }
        xmlFree(v);
    }

    for (ns = e->nsDef; ns; ns = ns->next) {
        if (ns->href && strlen((const char *) ns->href) > MAX_VALUE) {
            abort();
        }
    }

    run = 0;

    for (c = e->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            run = 0;
            check_bounds(c);

        } else if (c->type == XML_TEXT_NODE
                   || c->type == XML_CDATA_SECTION_NODE)
        {
            /* comments and processing instructions do not cut a text */
            run += c->content ? strlen((const char *) c->content) : 0;
            if (run > MAX_VALUE) {
                abort();
            }
        }
    }
}


static void
silent(void *ctx, const char *msg, ...)
{
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      allow, ns_in, ns_out;
    char                    *one, *cut;
    size_t                   ncuts, len, cuts[64], wlen, masked;
    unsigned                 seed;
    xmlDocPtr                in, out;
    const uint8_t           *doc;
    ngsp_mask_status_t       st1, st2;
    ngsp_mask_profile_t     *p;
    ngsp_mask_stream_conf_t  xc;

    if (profiles[0] == NULL) {
        profiles[0] = mask_profile("S redact; R remove; K keep_last=2; "
                                   "N.S pass; H initials; @T remove; "
                                   "@U redact;");
        profiles[1] = mask_profile("S redact; R remove; K keep_last=2; "
                                   "A pass; @U redact; default remove;");
        key = ngsp_mask_key_new((const unsigned char *) "fuzz", 4);
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, silent);
    }

    if (size < 1) {
        return 0;
    }

    allow = data[0] & 1;
    p = profiles[allow];
    seed = data[0] >> 1;
    doc = data + 1;
    len = size - 1;

    one = xml_run_cuts(p, key, doc, len, NULL, 0, 32, MAX_VALUE, &st1, NULL,
                       NULL);

    ncuts = mask_seeded_cuts(seed, len, cuts, sizeof(cuts) / sizeof(cuts[0]));

    cut = xml_run_cuts(p, key, doc, len, cuts, ncuts, 32, MAX_VALUE, &st2, NULL,
                       NULL);

    if (st1 != st2 || (st1 == NGSP_MASK_OK && strcmp(one, cut) != 0)) {
        abort();
    }

    /* the whole-document form (the xml action of JSON) agrees (one is
     * compared as a C string, so not when the input has a NUL) */
    xc.profile = p;
    xc.key = key;
    xc.max_depth = 32;
    xc.max_value = MAX_VALUE;
    xc.out = NULL;
    xc.data = NULL;

    if (ngsp_mask_xml_string(&whole[allow], &xc, doc, len, &wbuf, &wlen, &wcap,
                             &masked)
        == NGSP_MASK_OK
        && memchr(doc, 0, len) == NULL
        && (st1 != NGSP_MASK_OK || wlen != strlen(one)
            || memcmp(wbuf, one, wlen) != 0))
    {
        abort();
    }

    /* libxml2 takes a raw NUL for the end of input; XML never has one */
    in = memchr(doc, 0, len) ? NULL
                             : xml_parse((const char *) doc, len, &ns_in);

    if (in != NULL) {
        if (st1 == NGSP_MASK_OK) {
            out = xml_parse(one, strlen(one), &ns_out);
            if (out == NULL || (ns_in && !ns_out)) {
                abort();
            }

            check_element(xmlDocGetRootElement(out), NULL, CTX_NONE, allow);
            xmlFreeDoc(out);

            check_bounds(xmlDocGetRootElement(in));

        } else if (st1 == NGSP_MASK_ERR_SYNTAX
                   && in->intSubset == NULL && in->encoding == NULL)
        {
            /* refused a document it had no reason to refuse */
            abort();
        }

        xmlFreeDoc(in);
    }

    free(one);
    free(cut);

    return 0;
}
