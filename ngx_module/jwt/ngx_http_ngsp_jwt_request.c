/*
 * The request's token judged under the current location's settings, on
 * first need (the access handler, or a variable used in an earlier
 * phase), remembered in the request's module context together with the
 * settings and token it was judged with.
 */

#include <openssl/evp.h>

#include "ngx_http_ngsp_jwt.h"
#include "ngsp_jwt_memo.h"


#define NGX_HTTP_NGSP_JWT_MEMO_SLOTS  1024


/*
 * This worker's state, made when it starts and freed when it exits: the
 * SHA-256 that keys the shared cache and the memo of verified tokens
 * (both only with a cache).  A reload starts new workers, so the memo
 * never outlives the key set it was made for.
 */
typedef struct {
    EVP_MD              *sha256;
    EVP_MD_CTX          *md;
    ngsp_jwt_memo_t     *memo;
} ngx_http_ngsp_jwt_worker_t;


static ngx_http_ngsp_jwt_worker_t  ngx_http_ngsp_jwt_worker;

/*
 * Counts this worker's key set changes: a token verified under an
 * earlier set is verified again, even within one request.
 */
static ngx_uint_t  ngx_http_ngsp_jwt_keys_gen;


ngx_int_t
ngx_http_ngsp_jwt_init_worker(ngx_cycle_t *cycle,
    ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_http_ngsp_jwt_worker_t  *w = &ngx_http_ngsp_jwt_worker;

    if (ngsp_jwt_crypto_init() != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "ngsp: cannot fetch the jwt digests from OpenSSL");
        return NGX_ERROR;
    }

    if (mcf->cache == NULL) {
        return NGX_OK;
    }

    w->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    w->md = EVP_MD_CTX_new();
    w->memo = ngsp_jwt_memo_new(NGX_HTTP_NGSP_JWT_MEMO_SLOTS);

    if (w->sha256 == NULL || w->md == NULL || w->memo == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "ngsp: cannot make the jwt cache's worker state");
        ngx_http_ngsp_jwt_exit_worker();
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_ngsp_jwt_exit_worker(void)
{
    ngx_http_ngsp_jwt_worker_t  *w = &ngx_http_ngsp_jwt_worker;

    ngsp_jwt_memo_free(w->memo);
    EVP_MD_CTX_free(w->md);
    EVP_MD_free(w->sha256);
    ngx_memzero(w, sizeof(ngx_http_ngsp_jwt_worker_t));

    ngsp_jwt_crypto_free();
}


void
ngx_http_ngsp_jwt_keys_changed(void)
{
    ngx_http_ngsp_jwt_worker_t  *w = &ngx_http_ngsp_jwt_worker;

    ngx_http_ngsp_jwt_keys_gen++;

    if (w->memo == NULL) {
        return;
    }

    /* requests hold their own references to what the memo shared */
    ngsp_jwt_memo_free(w->memo);
    w->memo = ngsp_jwt_memo_new(NGX_HTTP_NGSP_JWT_MEMO_SLOTS);
}


/*
 * The fetched set as the workers share it, wherever a token is judged: a
 * variable read in a location without ngsp_jwt, or Lua's ngsp.verify,
 * does not pass the access handler, and would otherwise keep a key
 * removed upstream, or a set past stale=.
 */
static void
ngx_http_ngsp_jwt_sync(ngx_http_request_t *r, ngx_http_ngsp_main_conf_t *mcf)
{
    if (mcf->jwks_zone) {
        (void) ngx_http_ngsp_jwks_sync(mcf, r->connection->log);
    }
}


static void
ngx_http_ngsp_jwt_cleanup(void *data)
{
    ngx_http_ngsp_jwt_ctx_t  *ctx = data;

    ngsp_jwt_free(&ctx->jwt);
}


/* "Bearer <token>": the scheme is case-insensitive (RFC 7235 §2.1) */
static ngx_int_t
ngx_http_ngsp_jwt_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char  *p, *last;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    if (last - p < 6 || ngx_strncasecmp(p, (u_char *) "Bearer", 6) != 0) {
        return NGX_DECLINED;
    }

    p += 6;

    if (p < last && *p != ' ' && *p != '\t') {
        return NGX_DECLINED;
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static int
ngx_http_ngsp_jwt_regex_match(void *re, const char *s, size_t len)
{
    ngx_str_t  str;

    str.data = (u_char *) s;
    str.len = len;

    return ngx_regex_exec((ngx_regex_t *) re, &str, NULL, 0) >= 0;
}


/* a verified token is remembered until its exp, capped by valid= */
static time_t
ngx_http_ngsp_jwt_cache_expire(ngx_http_ngsp_main_conf_t *mcf,
    ngsp_jwt_t *jwt)
{
    time_t  expire, cap;

    cap = ngx_time() + mcf->cache_valid;
    expire = ngsp_jwt_expires(jwt);

    return (expire == 0 || expire > cap) ? cap : expire;
}


static ngsp_jwt_status_t
ngx_http_ngsp_jwt_verify_cached(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf, ngx_str_t *token, ngsp_jwt_t *jwt)
{
    ngsp_jwt_status_t            st;
    ngx_http_ngsp_jwt_worker_t  *w;
    u_char                       digest[EVP_MAX_MD_SIZE];

    w = &ngx_http_ngsp_jwt_worker;

    if (mcf->cache == NULL || w->md == NULL) {
        return ngsp_jwt_verify(mcf->keyset, jwt, (char *) token->data);
    }

    if (EVP_DigestInit_ex(w->md, w->sha256, NULL) != 1
        || EVP_DigestUpdate(w->md, ngsp_jwt_keyset_digest(mcf->keyset), 32)
           != 1
        || EVP_DigestUpdate(w->md, token->data, token->len) != 1
        || EVP_DigestFinal_ex(w->md, digest, NULL) != 1)
    {
        return ngsp_jwt_verify(mcf->keyset, jwt, (char *) token->data);
    }

    if (ngx_http_ngsp_jwt_cache_lookup(mcf->cache, digest) == NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp jwt cache hit");
        return NGSP_JWT_OK;
    }

    st = ngsp_jwt_verify(mcf->keyset, jwt, (char *) token->data);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp jwt cache miss, signature: %s",
                   ngsp_jwt_status_name(st));

    if (st == NGSP_JWT_OK) {
        ngx_http_ngsp_jwt_cache_insert(mcf->cache, digest,
                                       ngx_http_ngsp_jwt_cache_expire(mcf,
                                                                      jwt));
    }

    return st;
}


/* parse and verify, or find both already done in this worker's memo */
ngsp_jwt_status_t
ngx_http_ngsp_jwt_check_token(ngx_http_request_t *r, ngx_str_t *token,
    ngsp_jwt_t *jwt)
{
    ngsp_jwt_memo_t            *memo;
    ngsp_jwt_status_t           st;
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    ngx_http_ngsp_jwt_sync(r, mcf);

    if (mcf->keyset == NULL) {
        return NGSP_JWT_UNKNOWN_KEY;
    }

    /* NULL without a cache, and in a process that did not start a worker */
    memo = ngx_http_ngsp_jwt_worker.memo;

    if (memo && ngsp_jwt_memo_get(memo, (char *) token->data, token->len,
                                  ngx_time(), jwt))
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp jwt memo hit");
        return NGSP_JWT_OK;
    }

    st = ngsp_jwt_parse(jwt, (char *) token->data, token->len);
    if (st != NGSP_JWT_OK) {
        return st;
    }

    st = ngx_http_ngsp_jwt_verify_cached(r, mcf, token, jwt);

    /* fetched keys are expected and none are at hand */
    if (st == NGSP_JWT_UNKNOWN_KEY && mcf->jwks_zone
        && !ngx_http_ngsp_jwks_usable())
    {
        st = NGSP_JWT_KEYS_UNAVAILABLE;
    }

    if (st == NGSP_JWT_OK && memo) {
        ngsp_jwt_memo_put(memo, (char *) token->data, token->len, jwt,
                          ngx_http_ngsp_jwt_cache_expire(mcf, jwt));
    }

    return st;
}


/*
 * The worker's memo's parse of a token it verified and holds, or NULL:
 * borrowed, for a check made and finished at once (see ngsp_jwt_memo_peek).
 */
const ngsp_jwt_t *
ngx_http_ngsp_jwt_peek_token(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    ngx_http_ngsp_jwt_sync(r, mcf);

    if (mcf->keyset == NULL || ngx_http_ngsp_jwt_worker.memo == NULL) {
        return NULL;
    }

    return ngsp_jwt_memo_peek(ngx_http_ngsp_jwt_worker.memo,
                              (char *) token->data, token->len, ngx_time());
}


/* the token the location's settings point at */
static ngsp_jwt_status_t
ngx_http_ngsp_jwt_token(ngx_http_request_t *r, ngx_http_ngsp_loc_conf_t *lcf,
    ngx_str_t *token)
{
    ngx_str_null(token);

    if (lcf->token) {
        if (ngx_http_complex_value(r, lcf->token, token) != NGX_OK) {
            ngx_str_null(token);
            return NGSP_JWT_MALFORMED;
        }

    } else if (ngx_http_ngsp_jwt_bearer(r, token) != NGX_OK) {
        return NGSP_JWT_MISSING;
    }

    if (token->len == 0) {
        return lcf->token ? NGSP_JWT_MISSING : NGSP_JWT_MALFORMED;
    }

    if (token->len > NGSP_JWT_MAX_TOKEN) {
        ngx_str_null(token);
        return NGSP_JWT_MALFORMED;
    }

    return NGSP_JWT_OK;
}


/* the settings that change a token's judgement, not realm or log level */
static ngx_int_t
ngx_http_ngsp_jwt_same_rules(ngx_http_ngsp_loc_conf_t *a,
    ngx_http_ngsp_loc_conf_t *b)
{
    /* merged locations share their parent's lists by pointer */
    return a == b
           || (a->issuers == b->issuers
               && a->audiences == b->audiences
               && a->leeway == b->leeway
               && a->requires == b->requires
               && a->agency_claims == b->agency_claims
               && a->token == b->token);
}


/* claims, agency and requires of a verified token, under lcf */
static ngsp_jwt_status_t
ngx_http_ngsp_jwt_judge(ngx_http_request_t *r, ngx_http_ngsp_loc_conf_t *lcf,
    ngx_http_ngsp_jwt_ctx_t *ctx)
{
    size_t              len;
    json_t             *v;
    ngx_str_t          *name;
    const char         *text;
    ngx_uint_t          i;
    ngsp_jwt_req_t     *req;
    ngsp_jwt_status_t   st;
    ngsp_jwt_checks_t   checks;

    checks.issuers = lcf->issuers ? lcf->issuers->elts : NULL;
    checks.audiences = lcf->audiences ? lcf->audiences->elts : NULL;
    checks.leeway = (long) lcf->leeway;

    st = ngsp_jwt_check_claims(&ctx->jwt, &checks, ngx_time());
    if (st != NGSP_JWT_OK) {
        return st;
    }

    /* the first agency claim present decides; a bad one is not skipped */
    name = lcf->agency_claims->elts;
    st = NGSP_JWT_NO_AGENCY;

    for (i = 0; i < lcf->agency_claims->nelts; i++) {
        v = json_object_getn(ctx->jwt.claims, (char *) name[i].data,
                             name[i].len);

        st = ngsp_jwt_agency(v, &text, &len);
        if (st != NGSP_JWT_NO_AGENCY) {
            break;
        }
    }

    if (st != NGSP_JWT_OK) {
        return st;
    }

    ctx->agency.data = ngx_pnalloc(r->pool, len);
    if (ctx->agency.data == NULL) {
        return NGSP_JWT_NO_AGENCY;
    }

    ngx_memcpy(ctx->agency.data, text, len);
    ctx->agency.len = len;

    if (lcf->requires) {
        req = lcf->requires->elts;

        for (i = 0; i < lcf->requires->nelts; i++) {
            if (!ngsp_jwt_req_eval(&req[i], ctx->jwt.claims,
                                   ngx_http_ngsp_jwt_regex_match))
            {
                return NGSP_JWT_CLAIM_FAILED;
            }
        }
    }

    return NGSP_JWT_OK;
}


ngx_http_ngsp_jwt_ctx_t *
ngx_http_ngsp_jwt_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t       *cln;
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_module);

    if (ctx == NULL && (r->internal || r->filter_finalize)) {

        /*
         * an internal redirect or a filter's finalization cleared the
         * module contexts; a subrequest shares the pool but has a context
         * of its own
         */
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_ngsp_jwt_cleanup
                && ((ngx_http_ngsp_jwt_ctx_t *) cln->data)->request == r)
            {
                ctx = cln->data;
                ngx_http_set_ctx(r, ctx, ngx_http_ngsp_module);
                break;
            }
        }
    }

    return ctx;
}


ngx_http_ngsp_jwt_ctx_t *
ngx_http_ngsp_jwt_eval(ngx_http_request_t *r)
{
    ngx_str_t                   token;
    ngx_uint_t                  same_token;
    ngsp_jwt_status_t           st;
    ngx_pool_cleanup_t         *cln;
    ngx_http_ngsp_jwt_ctx_t    *ctx;
    ngx_http_ngsp_loc_conf_t   *lcf;
    ngx_http_ngsp_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    ngx_http_ngsp_jwt_sync(r, mcf);

    ctx = ngx_http_ngsp_jwt_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ngsp_jwt_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngx_http_ngsp_jwt_cleanup;
        cln->data = ctx;

        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_http_ngsp_module);
    }

    st = ngx_http_ngsp_jwt_token(r, lcf, &token);

    /* verified under an earlier key set: verified again */
    if (ctx->conf == NULL || ctx->token.len != token.len
        || ctx->keys != ngx_http_ngsp_jwt_keys_gen)
    {
        same_token = 0;

    } else if (token.len == 0) {
        same_token = (ctx->verified == st);

    } else {
        same_token = (ngx_memcmp(ctx->token.data, token.data, token.len)
                      == 0);
    }

    if (same_token && ngx_http_ngsp_jwt_same_rules(ctx->conf, lcf)) {
        return ctx;
    }

    /* another token is parsed and verified; the same one is judged again */
    if (!same_token) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp jwt token: %s, %uz bytes",
                       (st == NGSP_JWT_OK) ? "found"
                                           : ngsp_jwt_status_name(st),
                       token.len);

        ngsp_jwt_free(&ctx->jwt);
        ctx->token = token;
        ctx->verified = (st == NGSP_JWT_OK)
                        ? ngx_http_ngsp_jwt_check_token(r, &token, &ctx->jwt)
                        : st;
        ctx->keys = ngx_http_ngsp_jwt_keys_gen;

    } else {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp jwt judged again under a new location's "
                       "settings");
    }

    ctx->conf = lcf;
    ngx_str_null(&ctx->agency);

    ctx->status = (ctx->verified == NGSP_JWT_OK)
                  ? ngx_http_ngsp_jwt_judge(r, lcf, ctx)
                  : ctx->verified;

    /* an authentic token that fails a require still names its agency */
    if (ctx->status != NGSP_JWT_OK && ctx->status != NGSP_JWT_CLAIM_FAILED) {
        ngx_str_null(&ctx->agency);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp jwt verified: %s, judged: %s",
                   ngsp_jwt_status_name(ctx->verified),
                   ngsp_jwt_status_name(ctx->status));

    return ctx;
}
