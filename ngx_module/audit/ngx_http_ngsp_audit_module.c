/*
 * ngsp: an audit trail without identifiers.  $ngsp_audit_uri is the
 * client's request URI with the configured path captures and query
 * arguments replaced by their keyed HMAC (the masking engine's hash, under
 * ngsp_mask_hash_key), and the error log shows the request line, the
 * subrequest and the upstream URI pseudonymised the same way.
 *
 * The rules of every level a request passes through apply together: the
 * server's (recorded in the post-read phase) and each location's
 * (recorded first in the rewrite phase, before a rewrite or an internal
 * redirect moves the request on), so an error_page or a rewrite into a
 * location without rules still hides the identifiers of the original
 * URI.  What is recorded lives in the main request's pool, found again
 * through its cleanup as realip does, because internal redirects clear
 * the module contexts.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_audit_uri.h"
#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_variables.h"


/* groups per pattern: the ovector lives on the stack */
#define NGX_HTTP_NGSP_AUDIT_MAX_CAPTURES  16

/*
 * Values looked for in other text (the cost grows with their number);
 * past it, that text is not shown at all.
 */
#define NGX_HTTP_NGSP_AUDIT_MAX_SCRUB     32


typedef struct {
    ngx_uint_t                  used;       /* rules somewhere */
} ngx_http_ngsp_audit_main_conf_t;


typedef struct {
    ngx_array_t                *patterns;   /* ngsp_audit_pattern_t */
    ngx_array_t                *args;       /* ngsp_audit_str_t */
    ngx_flag_t                  error_log;
    ngx_str_t                   file;       /* the first rule, for */
    ngx_uint_t                  line;       /* messages */
} ngx_http_ngsp_audit_loc_conf_t;


/* the main request's: the rule lists it met, the log handler it wraps */
typedef struct {
    ngx_array_t                 lists;      /* ngx_array_t *, distinct */
    ngx_http_log_handler_pt     log_handler;
    ngx_uint_t                  busy;
} ngx_http_ngsp_audit_ctx_t;


static ngx_http_ngsp_audit_ctx_t *ngx_http_ngsp_audit_get_ctx(
    ngx_http_request_t *r, ngx_uint_t create);
static void ngx_http_ngsp_audit_cleanup(void *data);
static ngx_int_t ngx_http_ngsp_audit_record(ngx_http_request_t *r,
    ngx_http_ngsp_audit_ctx_t *ctx, ngx_http_ngsp_audit_loc_conf_t *alcf);
static ngx_int_t ngx_http_ngsp_audit_rules(ngx_http_request_t *r,
    ngx_http_ngsp_audit_ctx_t *ctx, ngx_http_request_t *sr,
    ngsp_audit_rules_t *rules);
static ngx_int_t ngx_http_ngsp_audit_apply(ngx_http_request_t *r,
    ngsp_audit_rules_t *rules, ngx_str_t *in, ngsp_audit_result_t *res);
static ngx_int_t ngx_http_ngsp_audit_client(ngx_http_request_t *r,
    ngsp_audit_rules_t *rules, ngsp_audit_result_t *res);
static void *ngx_http_ngsp_audit_alloc(void *pool, size_t size);
static int ngx_http_ngsp_audit_match(void *re, const unsigned char *s,
    size_t len, int *caps, size_t ncaps);
static ngx_int_t ngx_http_ngsp_audit_post_read(ngx_http_request_t *r);
static ngx_int_t ngx_http_ngsp_audit_rewrite(ngx_http_request_t *r);
static u_char *ngx_http_ngsp_audit_log_error(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_ngsp_audit_request_line(ngx_http_request_t *r,
    ngsp_audit_result_t *res, ngx_str_t *line);
static ngx_int_t ngx_http_ngsp_audit_hide(ngx_http_request_t *r,
    ngsp_audit_rules_t *rules, ngsp_audit_result_t *main, ngx_str_t *s);
static ngx_int_t ngx_http_ngsp_audit_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_http_ngsp_audit_uri_match(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_ngsp_audit_uri_args(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ngsp_audit_conf_at(ngx_conf_t *cf,
    ngx_http_ngsp_audit_loc_conf_t *alcf);
static ngx_int_t ngx_http_ngsp_audit_add_variables(ngx_conf_t *cf);
static void *ngx_http_ngsp_audit_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_ngsp_audit_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_audit_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ngsp_audit_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ngsp_audit_commands[] = {

    { ngx_string("ngsp_audit_uri_match"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_audit_uri_match,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_audit_uri_args"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_audit_uri_args,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_audit_error_log"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_audit_loc_conf_t, error_log),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_audit_module_ctx = {
    ngx_http_ngsp_audit_add_variables,     /* preconfiguration */
    ngx_http_ngsp_audit_init,              /* postconfiguration */

    ngx_http_ngsp_audit_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ngsp_audit_create_loc_conf,   /* create location configuration */
    ngx_http_ngsp_audit_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_http_ngsp_audit_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_audit_module_ctx,       /* module context */
    ngx_http_ngsp_audit_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_variable_t  ngx_http_ngsp_audit_vars[] = {

    { ngx_string("ngsp_audit_uri"), NULL,
      ngx_http_ngsp_audit_uri_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* --- per request --------------------------------------------------------- */


static ngx_http_ngsp_audit_ctx_t *
ngx_http_ngsp_audit_get_ctx(ngx_http_request_t *r, ngx_uint_t create)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_ngsp_audit_ctx_t  *ctx;

    for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_ngsp_audit_cleanup) {
            return cln->data;
        }
    }

    if (!create) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->main->pool,
                               sizeof(ngx_http_ngsp_audit_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_ngsp_audit_ctx_t));

    if (ngx_array_init(&ctx->lists, r->main->pool, 4, sizeof(ngx_array_t *))
        != NGX_OK)
    {
        return NULL;
    }

    cln->handler = ngx_http_ngsp_audit_cleanup;

    return ctx;
}


static void
ngx_http_ngsp_audit_cleanup(void *data)
{
    /* only a mark to find the context by */
}


static ngx_int_t
ngx_http_ngsp_audit_record(ngx_http_request_t *r,
    ngx_http_ngsp_audit_ctx_t *ctx, ngx_http_ngsp_audit_loc_conf_t *alcf)
{
    ngx_uint_t    i, k;
    ngx_array_t  *list[2], **seen, **p;

    list[0] = alcf->patterns;
    list[1] = alcf->args;

    for (k = 0; k < 2; k++) {
        if (list[k] == NULL) {
            continue;
        }

        seen = ctx->lists.elts;

        for (i = 0; i < ctx->lists.nelts; i++) {
            if (seen[i] == list[k]) {
                break;
            }
        }

        if (i < ctx->lists.nelts) {
            continue;
        }

        p = ngx_array_push(&ctx->lists);
        if (p == NULL) {
            return NGX_ERROR;
        }

        *p = list[k];
    }

    return NGX_OK;
}


/*
 * The rules of every list the request met, with those of its current
 * location and of sr's (when not NULL).  The lists of patterns and of
 * argument names are told apart by their element size.
 */
static ngx_int_t
ngx_http_ngsp_audit_rules(ngx_http_request_t *r,
    ngx_http_ngsp_audit_ctx_t *ctx, ngx_http_request_t *sr,
    ngsp_audit_rules_t *rules)
{
    size_t                           np, na;
    ngx_uint_t                       i;
    ngx_array_t                    **lists, *a;
    ngsp_audit_str_t                *args;
    ngsp_audit_pattern_t            *pats;
    ngx_http_ngsp_audit_ctx_t        local;
    ngx_http_ngsp_mask_main_conf_t  *mmcf;

    if (ctx == NULL) {
        ctx = &local;
        if (ngx_array_init(&ctx->lists, r->pool, 4, sizeof(ngx_array_t *))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_ngsp_audit_record(r, ctx,
            ngx_http_get_module_loc_conf(r, ngx_http_ngsp_audit_module))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (sr && sr != r
        && ngx_http_ngsp_audit_record(r, ctx,
               ngx_http_get_module_loc_conf(sr, ngx_http_ngsp_audit_module))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memzero(rules, sizeof(ngsp_audit_rules_t));

    mmcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_mask_filter_module);
    rules->key = mmcf->key;

    lists = ctx->lists.elts;
    np = 0;
    na = 0;

    for (i = 0; i < ctx->lists.nelts; i++) {
        if (lists[i]->size == sizeof(ngsp_audit_pattern_t)) {
            np += lists[i]->nelts;
        } else {
            na += lists[i]->nelts;
        }
    }

    if (np + na == 0) {
        return NGX_DECLINED;
    }

    pats = ngx_palloc(r->pool, (np + 1) * sizeof(ngsp_audit_pattern_t));
    args = ngx_palloc(r->pool, (na + 1) * sizeof(ngsp_audit_str_t));

    if (pats == NULL || args == NULL) {
        return NGX_ERROR;
    }

    rules->patterns = pats;
    rules->args = args;

    for (i = 0; i < ctx->lists.nelts; i++) {
        a = lists[i];

        if (a->size == sizeof(ngsp_audit_pattern_t)) {
            ngx_memcpy(pats + rules->npatterns, a->elts,
                       a->nelts * sizeof(ngsp_audit_pattern_t));
            rules->npatterns += a->nelts;

        } else {
            ngx_memcpy(args + rules->nargs, a->elts,
                       a->nelts * sizeof(ngsp_audit_str_t));
            rules->nargs += a->nelts;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_audit_apply(ngx_http_request_t *r, ngsp_audit_rules_t *rules,
    ngx_str_t *in, ngsp_audit_result_t *res)
{
    if (ngsp_audit_uri(rules, in->data, in->len, ngx_http_ngsp_audit_alloc,
                       r->pool, res)
        != 0)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The client's URI (the main request's, as received) pseudonymised.  The
 * main request's current URI, which a rewrite may have made from it, is
 * read under the same rules too: values found only there are replaced
 * in the client's URI wherever they appear, and all the values found
 * are in res->ids for other text.
 */
static ngx_int_t
ngx_http_ngsp_audit_client(ngx_http_request_t *r, ngsp_audit_rules_t *rules,
    ngsp_audit_result_t *res)
{
    u_char               *p;
    size_t                i, k, n;
    ngx_str_t             cur;
    ngx_uint_t            fresh;
    ngsp_audit_id_t      *ids;
    ngx_http_request_t   *m;
    ngsp_audit_result_t   now;

    m = r->main;

    if (ngx_http_ngsp_audit_apply(r, rules, &m->unparsed_uri, res) != NGX_OK)
    {
        return NGX_ERROR;
    }

    cur.len = m->uri.len + 1 + m->args.len;
    cur.data = ngx_pnalloc(r->pool, cur.len);
    if (cur.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(cur.data, m->uri.data, m->uri.len);

    if (m->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, m->args.data, m->args.len);
    }

    cur.len = p - cur.data;

    if (ngx_http_ngsp_audit_apply(r, rules, &cur, &now) != NGX_OK) {
        return NGX_ERROR;
    }

    fresh = 0;

    for (i = 0; i < now.nids; i++) {
        for (k = 0; k < res->nids; k++) {
            if (now.ids[i].dec_len == res->ids[k].dec_len
                && ngx_memcmp(now.ids[i].dec, res->ids[k].dec,
                              now.ids[i].dec_len) == 0)
            {
                break;
            }
        }

        fresh |= (k == res->nids);
    }

    n = res->nids + now.nids;

    ids = ngx_palloc(r->pool, (n + 1) * sizeof(ngsp_audit_id_t));
    if (ids == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ids, res->ids, res->nids * sizeof(ngsp_audit_id_t));
    ngx_memcpy(ids + res->nids, now.ids, now.nids * sizeof(ngsp_audit_id_t));
    res->ids = ids;
    res->nids = n;

    if (!fresh) {
        return NGX_OK;
    }

    if (n > NGX_HTTP_NGSP_AUDIT_MAX_SCRUB
        || ngsp_audit_scrub(ids, n, res->data, res->len,
                            ngx_http_ngsp_audit_alloc, r->pool, &p, &res->len)
           != 0)
    {
        return NGX_ERROR;
    }

    res->data = p;

    return NGX_OK;
}


/* aligned: the engine asks for arrays of offsets and structs too */
static void *
ngx_http_ngsp_audit_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size ? size : 1);
}


static int
ngx_http_ngsp_audit_match(void *re, const unsigned char *s, size_t len,
    int *caps, size_t ncaps)
{
    size_t     i;
    ngx_int_t  rc;
    ngx_str_t  subject;
    int        ov[3 * (NGX_HTTP_NGSP_AUDIT_MAX_CAPTURES + 1)];

    subject.data = (u_char *) s;
    subject.len = len;

    rc = ngx_regex_exec(re, &subject, ov, 3 * ncaps);

    if (rc == NGX_REGEX_NO_MATCHED) {
        return 0;
    }

    /* an error, or an ovector too small (which the configuration rules out) */
    if (rc <= 0) {
        return -1;
    }

    if ((size_t) rc > ncaps) {
        rc = ncaps;
    }

    for (i = 0; i < (size_t) rc; i++) {
        caps[2 * i] = ov[2 * i];
        caps[2 * i + 1] = ov[2 * i + 1];
    }

    return rc;
}


/* --- phases ------------------------------------------------------------- */


/* the main request, once: the server's rules, and the error log wrapped */
static ngx_int_t
ngx_http_ngsp_audit_post_read(ngx_http_request_t *r)
{
    ngx_http_ngsp_audit_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ngsp_audit_get_ctx(r, 1);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_ngsp_audit_record(r, ctx,
            ngx_http_get_module_loc_conf(r, ngx_http_ngsp_audit_module))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->log_handler != ngx_http_ngsp_audit_log_error) {
        ctx->log_handler = r->log_handler;
        r->log_handler = ngx_http_ngsp_audit_log_error;
    }

    return NGX_DECLINED;
}


/* each location a request or subrequest enters: its rules */
static ngx_int_t
ngx_http_ngsp_audit_rewrite(ngx_http_request_t *r)
{
    ngx_http_ngsp_audit_ctx_t       *ctx;
    ngx_http_ngsp_audit_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_audit_module);

    if (alcf->patterns == NULL && alcf->args == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ngsp_audit_get_ctx(r, 1);
    if (ctx == NULL
        || ngx_http_ngsp_audit_record(r, ctx, alcf) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* --- the error log -------------------------------------------------------- */


/*
 * nginx's handler, called for each error-log line of the request, with
 * the request line, the subrequest's URI, the upstream URI and the
 * referrer pseudonymised for the duration of the call.  When that cannot
 * be done (no memory, or a line logged while doing it), the line ends
 * after the client: nothing of the request is printed rather than an
 * identifier.
 */
static u_char *
ngx_http_ngsp_audit_log_error(ngx_http_request_t *r, ngx_http_request_t *sr,
    u_char *buf, size_t len)
{
    u_char                          *p;
    ngx_str_t                        line, sr_uri, u_uri, referer;
    ngx_int_t                        rc;
    ngx_table_elt_t                 *ref;
    ngsp_audit_rules_t               rules;
    ngsp_audit_result_t              res;
    ngx_http_upstream_t             *u;
    ngx_http_ngsp_audit_ctx_t       *ctx;
    ngx_http_ngsp_audit_loc_conf_t  *alcf;

    ctx = ngx_http_ngsp_audit_get_ctx(r, 0);

    if (ctx == NULL || ctx->log_handler == NULL) {
        return buf;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_audit_module);

    if (!alcf->error_log) {
        return ctx->log_handler(r, sr, buf, len);
    }

    if (ctx->busy) {
        return buf;
    }

    ctx->busy = 1;

    rc = ngx_http_ngsp_audit_rules(r, ctx, sr, &rules);

    if (rc == NGX_DECLINED) {
        ctx->busy = 0;
        return ctx->log_handler(r, sr, buf, len);
    }

    if (rc != NGX_OK
        || ngx_http_ngsp_audit_client(r, &rules, &res) != NGX_OK)
    {
        ctx->busy = 0;
        return buf;
    }

    u = sr->upstream;
    ref = r->headers_in.referer;

    line = r->request_line;
    sr_uri = sr->uri;
    u_uri.len = 0;
    referer.len = 0;

    if (u) {
        u_uri = u->uri;
    }

    if (ref) {
        referer = ref->value;
    }

    if (ngx_http_ngsp_audit_request_line(r, &res, &r->request_line) != NGX_OK
        || (sr != r
            && ngx_http_ngsp_audit_hide(r, &rules, &res, &sr->uri) != NGX_OK)
        || (u && ngx_http_ngsp_audit_hide(r, &rules, &res, &u->uri)
                 != NGX_OK)
        || (ref && ngx_http_ngsp_audit_hide(r, &rules, &res, &ref->value)
                   != NGX_OK))
    {
        p = buf;
        goto done;
    }

    p = ctx->log_handler(r, sr, buf, len);

done:

    r->request_line = line;
    sr->uri = sr_uri;

    if (u) {
        u->uri = u_uri;
    }

    if (ref) {
        ref->value = referer;
    }

    ctx->busy = 0;

    return p;
}


/* the request line with the pseudonymised URI in place of the client's */
static ngx_int_t
ngx_http_ngsp_audit_request_line(ngx_http_request_t *r,
    ngsp_audit_result_t *res, ngx_str_t *line)
{
    u_char  *data, *p, *start, *end;

    if (line->len == 0) {
        return NGX_OK;
    }

    start = r->unparsed_uri.data;
    end = start + r->unparsed_uri.len;

    data = ngx_pnalloc(r->pool, line->len + r->method_name.len
                                + r->http_protocol.len + res->len + 2);
    if (data == NULL) {
        return NGX_ERROR;
    }

    p = data;

    if (start && start >= line->data && end <= line->data + line->len) {
        p = ngx_cpymem(p, line->data, start - line->data);
        p = ngx_cpymem(p, res->data, res->len);
        p = ngx_cpymem(p, end, line->data + line->len - end);

    } else {
        /* a line built apart (HTTP/2): the method, the URI, the protocol */
        p = ngx_cpymem(p, r->method_name.data, r->method_name.len);
        *p++ = ' ';
        p = ngx_cpymem(p, res->data, res->len);

        if (r->http_protocol.len) {
            *p++ = ' ';
            p = ngx_cpymem(p, r->http_protocol.data, r->http_protocol.len);
        }
    }

    line->data = data;
    line->len = p - data;

    return NGX_OK;
}


/*
 * Other text carrying the URI (the subrequest's, the upstream's, the
 * referrer): the rules, then the values found in the client's URI
 * wherever they appear; with too many values, nothing.
 */
static ngx_int_t
ngx_http_ngsp_audit_hide(ngx_http_request_t *r, ngsp_audit_rules_t *rules,
    ngsp_audit_result_t *main, ngx_str_t *s)
{
    u_char               *p;
    size_t                n;
    ngsp_audit_result_t   res;

    if (s->len == 0) {
        return NGX_OK;
    }

    if (main->nids > NGX_HTTP_NGSP_AUDIT_MAX_SCRUB) {
        s->len = 0;
        return NGX_OK;
    }

    if (ngx_http_ngsp_audit_apply(r, rules, s, &res) != NGX_OK
        || ngsp_audit_scrub(main->ids, main->nids, res.data, res.len,
                            ngx_http_ngsp_audit_alloc, r->pool, &p, &n)
           != 0)
    {
        return NGX_ERROR;
    }

    s->data = p;
    s->len = n;

    return NGX_OK;
}


/* --- the variable --------------------------------------------------------- */


static ngx_int_t
ngx_http_ngsp_audit_uri_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_int_t                   rc;
    ngx_http_request_t         *m;
    ngsp_audit_rules_t          rules;
    ngsp_audit_result_t         res;
    ngx_http_ngsp_audit_ctx_t  *ctx;

    m = r->main;

    ctx = ngx_http_ngsp_audit_get_ctx(r, 0);

    /* the main request's rules, and those of the location r is in */
    rc = ngx_http_ngsp_audit_rules(m, ctx, r, &rules);

    if (rc == NGX_DECLINED) {
        ngx_http_ngsp_variable_set(v, m->unparsed_uri.data,
                                   m->unparsed_uri.len);
        return NGX_OK;
    }

    if (rc != NGX_OK || ngx_http_ngsp_audit_client(r, &rules, &res) != NGX_OK)
    {
        /* never the URI in clear: "-" in the log */
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_ngsp_variable_set(v, res.data, res.len);

    return NGX_OK;
}


/* --- configuration --------------------------------------------------------- */


static char *
ngx_http_ngsp_audit_uri_match(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_audit_loc_conf_t  *alcf = conf;

    u_char                           errstr[NGX_MAX_CONF_ERRSTR];
    ngx_str_t                       *value, re;
    ngx_regex_compile_t              rc;
    ngsp_audit_pattern_t            *pt;
    ngx_http_ngsp_audit_main_conf_t *amcf;

    value = cf->args->elts;

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    if (value[1].len > 2 && value[1].data[0] == '~'
        && value[1].data[1] == '*')
    {
        re.data = value[1].data + 2;
        re.len = value[1].len - 2;
        rc.options = NGX_REGEX_CASELESS;

    } else if (value[1].len > 1 && value[1].data[0] == '~') {
        re.data = value[1].data + 1;
        re.len = value[1].len - 1;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"ngsp_audit_uri_match\" takes a regular "
                           "expression after \"~\" or \"~*\", as in "
                           "\"~^/congdan/([0-9]{12})\", not \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    rc.pattern = re;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: bad regular expression in "
                           "\"ngsp_audit_uri_match\": %V", &rc.err);
        return NGX_CONF_ERROR;
    }

    if (rc.captures == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"ngsp_audit_uri_match %V\" has no capture "
                           "group: put the identifier in parentheses, as in "
                           "\"~^/congdan/([0-9]{12})\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (rc.captures > NGX_HTTP_NGSP_AUDIT_MAX_CAPTURES) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"ngsp_audit_uri_match %V\" has more than "
                           "%d capture groups", &value[1],
                           NGX_HTTP_NGSP_AUDIT_MAX_CAPTURES);
        return NGX_CONF_ERROR;
    }

    if (alcf->patterns == NULL) {
        alcf->patterns = ngx_array_create(cf->pool, 2,
                                          sizeof(ngsp_audit_pattern_t));
        if (alcf->patterns == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    pt = ngx_array_push(alcf->patterns);
    if (pt == NULL) {
        return NGX_CONF_ERROR;
    }

    pt->re = rc.regex;
    pt->match = ngx_http_ngsp_audit_match;
    pt->captures = rc.captures;

    ngx_http_ngsp_audit_conf_at(cf, alcf);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_audit_module);
    amcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_audit_uri_args(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_audit_loc_conf_t  *alcf = conf;

    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngsp_audit_str_t                *name;
    ngx_http_ngsp_audit_main_conf_t *amcf;

    value = cf->args->elts;

    if (alcf->args == NULL) {
        /* element size tells argument lists from pattern lists */
        alcf->args = ngx_array_create(cf->pool, 4, sizeof(ngsp_audit_str_t));
        if (alcf->args == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (value[i].len == 0
            || ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')
            || ngx_strlchr(value[i].data, value[i].data + value[i].len, '&'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid argument name \"%V\" in "
                               "\"ngsp_audit_uri_args\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(alcf->args);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = value[i].data;
        name->len = value[i].len;
    }

    ngx_http_ngsp_audit_conf_at(cf, alcf);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_audit_module);
    amcf->used = 1;

    return NGX_CONF_OK;
}


static void
ngx_http_ngsp_audit_conf_at(ngx_conf_t *cf,
    ngx_http_ngsp_audit_loc_conf_t *alcf)
{
    if (alcf->line == 0 && cf->conf_file) {
        alcf->file = cf->conf_file->file.name;
        alcf->line = cf->conf_file->line;
    }
}


static ngx_int_t
ngx_http_ngsp_audit_add_variables(ngx_conf_t *cf)
{
    return ngx_http_ngsp_add_variables(cf, ngx_http_ngsp_audit_vars);
}


static void *
ngx_http_ngsp_audit_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_audit_main_conf_t));
}


static void *
ngx_http_ngsp_audit_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_audit_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_audit_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->patterns = NULL;
     *     alcf->args = NULL;
     *     alcf->file = { 0, NULL };
     *     alcf->line = 0;
     */

    alcf->error_log = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_http_ngsp_audit_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ngsp_audit_loc_conf_t  *prev = parent;
    ngx_http_ngsp_audit_loc_conf_t  *conf = child;

    ngx_http_ngsp_mask_main_conf_t  *mmcf;

    if (conf->patterns == NULL) {
        conf->patterns = prev->patterns;
    }

    if (conf->args == NULL) {
        conf->args = prev->args;
    }

    if (conf->line == 0) {
        conf->file = prev->file;
        conf->line = prev->line;
    }

    ngx_conf_merge_value(conf->error_log, prev->error_log, 1);

    if (conf->patterns == NULL && conf->args == NULL) {
        return NGX_CONF_OK;
    }

    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_ngsp_mask_filter_module);

    /* fail closed: without the key, identifiers could not be hidden */
    if (mmcf->key == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ngsp: \"ngsp_audit_uri_match\" and "
                      "\"ngsp_audit_uri_args\" need \"ngsp_mask_hash_key\" "
                      "in the http block, the key of their pseudonyms "
                      "in %V:%ui", &conf->file, conf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ngsp_audit_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_http_ngsp_audit_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_audit_module);

    if (!amcf->used) {
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_audit_post_read;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_audit_rewrite;

    return NGX_OK;
}
