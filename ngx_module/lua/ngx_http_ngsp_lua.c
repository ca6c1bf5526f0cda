/*
 * ngsp's FFI surface for OpenResty Lua (see ngx_http_ngsp_lua.h).  Every
 * function checks its arguments, since Lua may pass anything: a NULL
 * request or buffer, a length that lies.  Results go into the caller's
 * buffers; NGSP_LUA_AGAIN says how much room is needed, so the Lua side
 * grows its one reused buffer and calls again.  The few allocations made
 * (rule lists) live on the request's pool; the rewriters of ngsp_lua_mask
 * are kept per worker, reset between calls, until the cycle's end.
 */

#include "ngx_http_ngsp_lua.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_status.h"


/* a claim name or a rule longer than this is refused unread */
#define NGSP_LUA_MAX_NAME    256
#define NGSP_LUA_MAX_RULE    4096
#define NGSP_LUA_MAX_LIST    64
#define NGSP_LUA_MAX_BODY    (64 * 1024 * 1024)
#define NGSP_LUA_MAX_KEY     (1024 * 1024)
#define NGSP_LUA_MAX_REPLY   4096
/* issuers and audiences copied on the stack up to this much in all */
#define NGSP_LUA_SCRATCH     1024


struct ngsp_lua_key_s {
    ngsp_jwt_keyset_t          *keyset;
};


typedef struct {
    u_char                     *buf;
    size_t                      size;
    size_t                      len;        /* may pass size: the need */
} ngsp_lua_out_t;


/*
 * A rewriter costs more to make (its frames, stage and value buffers)
 * than a small record does to mask, so each worker keeps the few it met,
 * keyed by all that their configuration holds, and resets one for each
 * call.  They write into ngsp_lua_dst, which points at the caller's
 * buffer during a call.  The cycle's pool frees them: a reload frees
 * the profiles they point to.
 */
#define NGSP_LUA_KEPT        8
#define NGSP_LUA_CTYPE_MEMO  128

typedef struct {
    ngsp_mask_body_t           *body;
    ngsp_mask_syntax_t          syntax;
    const ngsp_mask_profile_t  *profile;
    const ngsp_mask_key_t      *key;
    size_t                      max_depth;
    size_t                      max_value;
} ngsp_lua_kept_t;


static ngsp_lua_kept_t     ngsp_lua_kept[NGSP_LUA_KEPT];
static ngx_uint_t          ngsp_lua_nkept;
static ngx_uint_t          ngsp_lua_next_kept;
static ngx_cycle_t        *ngsp_lua_kept_cycle;
static ngsp_lua_out_t      ngsp_lua_dst;

/* the last content type a call named, and the syntax it means */
static u_char              ngsp_lua_ctype[NGSP_LUA_CTYPE_MEMO];
static size_t              ngsp_lua_ctype_len;
static ngsp_mask_syntax_t  ngsp_lua_ctype_syntax;


static void ngsp_lua_err(u_char *err, size_t size, const char *text);
static int ngsp_lua_copy(const u_char *src, size_t n, u_char *buf,
    size_t size, size_t *len);
static int ngsp_lua_json(json_t *v, u_char *buf, size_t size, size_t *len);
static ngx_http_ngsp_jwt_ctx_t *ngsp_lua_judged(ngx_http_request_t *r);
static int ngsp_lua_judge(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, ngsp_jwt_t *jwt,
    int *status, u_char *err, size_t err_size);
static int ngsp_lua_strs(ngx_http_request_t *r, const ngsp_lua_str_t *in,
    size_t n, const char **list, u_char **pos, u_char *end);
static int ngsp_lua_rule(ngx_http_request_t *r, const ngsp_lua_str_t *rule,
    ngsp_jwt_req_t *req, u_char *err, size_t err_size);
static int ngsp_lua_regex_match(void *re, const char *s, size_t len);
static int ngsp_lua_mask_out(void *data, const unsigned char *p, size_t len,
    unsigned flags);
static void ngsp_lua_mask_count(ngx_http_request_t *r, ngx_str_t *profile,
    ngx_uint_t why, ngsp_mask_body_t *mask, size_t in, size_t out);
static const char *ngsp_lua_syntax(const u_char *ctype, size_t ctype_len,
    ngsp_mask_syntax_t *syntax, ngx_uint_t *why);
static ngsp_mask_body_t *ngsp_lua_rewriter(ngsp_mask_syntax_t syntax,
    const ngsp_mask_stream_conf_t *sc);
static void ngsp_lua_kept_free(void *data);
static ngsp_quota_policy_t *ngsp_lua_policy(ngx_http_request_t *r,
    const u_char *name, size_t len);


int
ngsp_lua_abi_version(void)
{
    return NGSP_LUA_ABI;
}


const char *
ngsp_lua_jwt_status_name(int status)
{
    if (status < 0 || status >= NGSP_JWT_STATUS_MAX) {
        return NULL;
    }

    return ngsp_jwt_status_name((ngsp_jwt_status_t) status);
}


/* --- the current request ------------------------------------------------ */


static ngx_http_ngsp_jwt_ctx_t *
ngsp_lua_judged(ngx_http_request_t *r)
{
    if (r == NULL || r->pool == NULL) {
        return NULL;
    }

    return ngx_http_ngsp_jwt_eval(r);
}


int
ngsp_lua_jwt_status(ngx_http_request_t *r)
{
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    ctx = ngsp_lua_judged(r);
    if (ctx == NULL) {
        return NGSP_LUA_ERROR;
    }

    return (int) ctx->status;
}


int
ngsp_lua_jwt_agency(ngx_http_request_t *r, u_char *buf, size_t size,
    size_t *len)
{
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    if (len == NULL) {
        return NGSP_LUA_ERROR;
    }

    ctx = ngsp_lua_judged(r);
    if (ctx == NULL) {
        return NGSP_LUA_ERROR;
    }

    if (ctx->agency.len == 0) {
        return NGSP_LUA_DECLINED;
    }

    return ngsp_lua_copy(ctx->agency.data, ctx->agency.len, buf, size, len);
}


/* claims of a token that verified, as the variables give them */
int
ngsp_lua_jwt_claims(ngx_http_request_t *r, u_char *buf, size_t size,
    size_t *len)
{
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    if (len == NULL) {
        return NGSP_LUA_ERROR;
    }

    ctx = ngsp_lua_judged(r);
    if (ctx == NULL) {
        return NGSP_LUA_ERROR;
    }

    if ((ctx->status != NGSP_JWT_OK && ctx->status != NGSP_JWT_CLAIM_FAILED)
        || ctx->jwt.claims == NULL)
    {
        return NGSP_LUA_DECLINED;
    }

    return ngsp_lua_json(ctx->jwt.claims, buf, size, len);
}


int
ngsp_lua_jwt_claim(ngx_http_request_t *r, const u_char *name,
    size_t name_len, u_char *buf, size_t size, size_t *len)
{
    int                       rc;
    char                     *text;
    size_t                    n;
    json_t                   *v;
    ngx_http_ngsp_jwt_ctx_t  *ctx;

    if (len == NULL || name == NULL || name_len == 0
        || name_len > NGSP_LUA_MAX_NAME)
    {
        return NGSP_LUA_ERROR;
    }

    ctx = ngsp_lua_judged(r);
    if (ctx == NULL) {
        return NGSP_LUA_ERROR;
    }

    if ((ctx->status != NGSP_JWT_OK && ctx->status != NGSP_JWT_CLAIM_FAILED)
        || ctx->jwt.claims == NULL)
    {
        return NGSP_LUA_DECLINED;
    }

    v = ngsp_jwt_claim(ctx->jwt.claims, (const char *) name, name_len);

    text = ngsp_jwt_claim_text(v, &n);
    if (text == NULL) {
        return NGSP_LUA_DECLINED;
    }

    rc = ngsp_lua_copy((u_char *) text, n, buf, size, len);
    free(text);

    return rc;
}


/* --- any token ------------------------------------------------------------ */


/*
 * The token's signature (through the worker's memo and the shared cache),
 * then exp, nbf, issuer, audience and the rules, all on every call: a
 * caller that keeps the claims of an earlier call learns here whether
 * they still stand.  On NGSP_JWT_OK, jwt, when given, holds the claims
 * (freed by the caller with ngsp_jwt_free); a NULL jwt is a check only.
 */
static int
ngsp_lua_judge(ngx_http_request_t *r, const u_char *token, size_t token_len,
    const ngsp_lua_verify_opts_t *opts, ngsp_jwt_t *jwt, int *status,
    u_char *err, size_t err_size)
{
    u_char             *pos;
    ngx_str_t           tok;
    ngx_uint_t          i;
    ngsp_jwt_t          own, *parsed;
    const ngsp_jwt_t   *held, *j;
    const char         *iss[NGSP_LUA_MAX_LIST + 1];
    const char         *aud[NGSP_LUA_MAX_LIST + 1];
    ngsp_jwt_req_t     *reqs;
    ngsp_jwt_status_t   st;
    ngsp_jwt_checks_t   checks;
    u_char              scratch[NGSP_LUA_SCRATCH];

    ngsp_lua_err(err, err_size, "");

    if (r == NULL || r->pool == NULL || status == NULL || opts == NULL) {
        ngsp_lua_err(err, err_size, "bad arguments");
        return NGSP_LUA_ERROR;
    }

    *status = NGSP_JWT_MALFORMED;

    if (token == NULL || token_len == 0) {
        *status = NGSP_JWT_MISSING;
        return NGSP_LUA_DECLINED;
    }

    if (token_len > NGSP_JWT_MAX_TOKEN) {
        return NGSP_LUA_DECLINED;
    }

    if (opts->nissuers > NGSP_LUA_MAX_LIST
        || opts->naudiences > NGSP_LUA_MAX_LIST
        || opts->nrequires > NGSP_LUA_MAX_LIST
        || (opts->nissuers && opts->issuers == NULL)
        || (opts->naudiences && opts->audiences == NULL)
        || (opts->nrequires && opts->requires == NULL)
        || opts->leeway < 0 || opts->leeway > NGSP_JWT_LEEWAY_MAX)
    {
        ngsp_lua_err(err, err_size, "bad options");
        return NGSP_LUA_ERROR;
    }

    checks.leeway = opts->leeway;
    checks.issuers = opts->nissuers ? iss : NULL;
    checks.audiences = opts->naudiences ? aud : NULL;
    pos = scratch;

    if (ngsp_lua_strs(r, opts->issuers, opts->nissuers, iss, &pos,
                      scratch + sizeof(scratch)) != NGSP_LUA_OK
        || ngsp_lua_strs(r, opts->audiences, opts->naudiences, aud, &pos,
                         scratch + sizeof(scratch)) != NGSP_LUA_OK)
    {
        ngsp_lua_err(err, err_size, "bad issuer or audience");
        return NGSP_LUA_ERROR;
    }

    /* the rules are read first: a bad one is the caller's error */
    reqs = NULL;

    if (opts->nrequires) {
        reqs = ngx_palloc(r->pool, opts->nrequires * sizeof(ngsp_jwt_req_t));
        if (reqs == NULL) {
            ngsp_lua_err(err, err_size, "out of memory");
            return NGSP_LUA_ERROR;
        }
    }

    for (i = 0; i < opts->nrequires; i++) {
        if (ngsp_lua_rule(r, &opts->requires[i], &reqs[i], err, err_size)
            != NGSP_LUA_OK)
        {
            return NGSP_LUA_ERROR;
        }
    }

    tok.data = (u_char *) token;
    tok.len = token_len;

    /*
     * Without jwt (a check only), a token in the worker's memo is judged
     * on the memo's own parse, borrowed: nothing in between can change
     * the memo, and no references are taken or dropped.
     */
    held = (jwt == NULL) ? ngx_http_ngsp_jwt_peek_token(r, &tok) : NULL;

    parsed = NULL;

    if (held) {
        st = NGSP_JWT_OK;
        j = held;

    } else {
        parsed = jwt ? jwt : &own;
        ngx_memzero(parsed, sizeof(ngsp_jwt_t));
        st = ngx_http_ngsp_jwt_check_token(r, &tok, parsed);
        j = parsed;
    }

    if (st == NGSP_JWT_OK) {
        st = ngsp_jwt_check_claims(j, &checks, ngx_time());
    }

    for (i = 0; st == NGSP_JWT_OK && i < opts->nrequires; i++) {
        if (!ngsp_jwt_req_eval(&reqs[i], j->claims, ngsp_lua_regex_match)) {
            st = NGSP_JWT_CLAIM_FAILED;
        }
    }

    *status = (int) st;

    if (parsed && (parsed == &own || st != NGSP_JWT_OK)) {
        ngsp_jwt_free(parsed);
    }

    return (st == NGSP_JWT_OK) ? NGSP_LUA_OK : NGSP_LUA_DECLINED;
}


int
ngsp_lua_jwt_verify(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, u_char *buf,
    size_t size, size_t *len, int *status, u_char *err, size_t err_size)
{
    int         rc;
    ngsp_jwt_t  jwt;

    if (len == NULL) {
        ngsp_lua_err(err, err_size, "bad arguments");
        return NGSP_LUA_ERROR;
    }

    rc = ngsp_lua_judge(r, token, token_len, opts, &jwt, status, err,
                        err_size);
    if (rc != NGSP_LUA_OK) {
        return rc;
    }

    rc = ngsp_lua_json(jwt.claims, buf, size, len);

    ngsp_jwt_free(&jwt);

    return rc;
}


/* the judgement of ngsp_lua_jwt_verify without writing the claims */
int
ngsp_lua_jwt_check(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, int *status,
    u_char *err, size_t err_size)
{
    return ngsp_lua_judge(r, token, token_len, opts, NULL, status, err,
                          err_size);
}


/*
 * A key of the caller's: a PEM public key or certificate (its own type
 * pins the algorithms), or, with hmac, a raw shared secret for HS256,
 * HS384 and HS512, which a PEM text never is.
 */
ngsp_lua_key_t *
ngsp_lua_key_new(const u_char *data, size_t len, int hmac, u_char *err,
    size_t err_size)
{
    char             msg[256];
    unsigned         algs;
    ngsp_lua_key_t  *key;

    ngsp_lua_err(err, err_size, "");

    if (data == NULL || len == 0 || len > NGSP_LUA_MAX_KEY) {
        ngsp_lua_err(err, err_size, "no key, or a key too long");
        return NULL;
    }

    if (ngsp_jwt_crypto_init() != 0) {
        ngsp_lua_err(err, err_size, "cannot initialize the crypto state");
        return NULL;
    }

    if (hmac) {
        /* each HS* takes a secret at least as long as its hash */
        algs = NGSP_ALG_BIT(NGSP_ALG_HS256);

        if (len >= 48) {
            algs |= NGSP_ALG_BIT(NGSP_ALG_HS384);
        }

        if (len >= 64) {
            algs |= NGSP_ALG_BIT(NGSP_ALG_HS512);
        }

        if (memmem(data, len, "-----BEGIN ", 11) != NULL) {
            ngsp_lua_err(err, err_size, "a PEM key cannot be an HMAC secret");
            return NULL;
        }

    } else {
        algs = 0;

        if (memmem(data, len, "-----BEGIN ", 11) == NULL) {
            ngsp_lua_err(err, err_size, "not a PEM public key or "
                         "certificate");
            return NULL;
        }
    }

    key = malloc(sizeof(ngsp_lua_key_t));
    if (key == NULL) {
        ngsp_lua_err(err, err_size, "out of memory");
        return NULL;
    }

    key->keyset = ngsp_jwt_keyset_new();
    if (key->keyset == NULL) {
        free(key);
        ngsp_lua_err(err, err_size, "out of memory");
        return NULL;
    }

    if (ngsp_jwt_keyset_add(key->keyset, data, len, algs, NULL, msg,
                            sizeof(msg))
        <= 0)
    {
        ngsp_lua_err(err, err_size, msg[0] ? msg : "no usable key");
        ngsp_lua_key_free(key);
        return NULL;
    }

    return key;
}


void
ngsp_lua_key_free(ngsp_lua_key_t *key)
{
    if (key == NULL) {
        return;
    }

    ngsp_jwt_keyset_free(key->keyset);
    free(key);
}


/* signature, alg and crit, then exp and nbf (no issuer or audience) */
int
ngsp_lua_key_verify(ngsp_lua_key_t *key, const u_char *token,
    size_t token_len, long leeway, int *status)
{
    ngsp_jwt_t          jwt;
    ngsp_jwt_status_t   st;
    ngsp_jwt_checks_t   checks;

    if (key == NULL || status == NULL || leeway < 0
        || leeway > NGSP_JWT_LEEWAY_MAX)
    {
        return NGSP_LUA_ERROR;
    }

    if (token == NULL || token_len == 0) {
        *status = NGSP_JWT_MISSING;
        return NGSP_LUA_DECLINED;
    }

    if (token_len > NGSP_JWT_MAX_TOKEN) {
        *status = NGSP_JWT_MALFORMED;
        return NGSP_LUA_DECLINED;
    }

    ngx_memzero(&jwt, sizeof(ngsp_jwt_t));

    st = ngsp_jwt_parse(&jwt, (const char *) token, token_len);

    if (st == NGSP_JWT_OK) {
        /*
         * the caller's one key verifies whatever kid the token names, as
         * in lua-resty-jwt; the signature covers the token's bytes, not
         * this parsed header
         */
        (void) json_object_del(jwt.header, "kid");

        st = ngsp_jwt_verify(key->keyset, &jwt, (const char *) token);
    }

    if (st == NGSP_JWT_OK) {
        checks.issuers = NULL;
        checks.audiences = NULL;
        checks.leeway = leeway;
        st = ngsp_jwt_check_claims(&jwt, &checks, ngx_time());
    }

    ngsp_jwt_free(&jwt);

    *status = (int) st;

    return (st == NGSP_JWT_OK) ? NGSP_LUA_OK : NGSP_LUA_DECLINED;
}


/* --- masking -------------------------------------------------------------- */


int
ngsp_lua_mask(ngx_http_request_t *r, const u_char *profile,
    size_t profile_len, const u_char *body, size_t body_len,
    const u_char *ctype, size_t ctype_len, u_char *buf, size_t size,
    size_t *len, u_char *err, size_t err_size)
{
    ngx_str_t                        name;
    ngx_uint_t                       why;
    ngsp_mask_body_t                *mask;
    ngsp_mask_status_t               st;
    ngsp_mask_syntax_t               syntax;
    ngsp_mask_stream_conf_t          sc;
    const char                      *text;
    ngx_http_ngsp_mask_profile_t    *prof;
    ngx_http_ngsp_mask_loc_conf_t   *lcf;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    ngsp_lua_err(err, err_size, "");

    if (r == NULL || r->pool == NULL || len == NULL
        || (buf == NULL && size) || (body == NULL && body_len)
        || (ctype == NULL && ctype_len)
        || profile == NULL || profile_len == 0
        || profile_len > NGSP_LUA_MAX_NAME || body_len > NGSP_LUA_MAX_BODY)
    {
        ngsp_lua_err(err, err_size, "bad arguments");
        return NGSP_LUA_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_mask_filter_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_mask_filter_module);

    name.data = (u_char *) profile;
    name.len = profile_len;

    prof = ngx_http_ngsp_mask_find(mcf, &name);
    if (prof == NULL) {
        ngsp_lua_mask_count(r, &name, NGX_HTTP_NGSP_MASK_WHY_PROFILE, NULL,
                            0, 0);
        ngsp_lua_err(err, err_size, "unknown profile");
        return NGSP_LUA_DECLINED;
    }

    /* the type decides as the filter's does; none: the first bytes */
    syntax = NGSP_MASK_SYNTAX_SNIFF;

    if (ctype_len) {
        text = ngsp_lua_syntax(ctype, ctype_len, &syntax, &why);
        if (text) {
            ngsp_lua_mask_count(r, &prof->name, why, NULL, 0, 0);
            ngsp_lua_err(err, err_size, text);
            return NGSP_LUA_DECLINED;
        }
    }

    sc.profile = prof->profile;
    sc.key = mcf->key;
    sc.max_depth = lcf->max_depth;
    sc.max_value = lcf->max_value;
    sc.out = ngsp_lua_mask_out;
    sc.data = &ngsp_lua_dst;

    mask = ngsp_lua_rewriter(syntax, &sc);
    if (mask == NULL) {
        ngsp_lua_mask_count(r, &prof->name, NGX_HTTP_NGSP_MASK_WHY_INTERNAL,
                            NULL, 0, 0);
        ngsp_lua_err(err, err_size, "out of memory");
        return NGSP_LUA_ERROR;
    }

    ngsp_lua_dst.buf = buf;
    ngsp_lua_dst.size = size;
    ngsp_lua_dst.len = 0;

    st = ngsp_mask_body_feed(mask, body, body_len);

    if (st == NGSP_MASK_OK) {
        st = ngsp_mask_body_finish(mask);
    }

    ngsp_lua_dst.buf = NULL;
    ngsp_lua_dst.size = 0;

    if (st != NGSP_MASK_OK) {
        ngsp_lua_mask_count(r, &prof->name, ngx_http_ngsp_mask_why_of(st),
                            mask, body_len, 0);
        ngsp_lua_err(err, err_size, ngsp_mask_body_reason(mask));

        /* fail closed: whatever was written is not the masked body */
        *len = 0;
        return (st == NGSP_MASK_ERR_NOMEM) ? NGSP_LUA_ERROR
                                           : NGSP_LUA_DECLINED;
    }

    *len = ngsp_lua_dst.len;

    if (ngsp_lua_dst.len > size) {
        /* the caller calls again with room: that call counts */
        return NGSP_LUA_AGAIN;
    }

    ngsp_lua_mask_count(r, &prof->name, NGX_HTTP_NGSP_MASK_WHY_NONE, mask,
                        body_len, ngsp_lua_dst.len);

    return NGSP_LUA_OK;
}


/*
 * A call counts in the status zone as a response the filter masks does:
 * under its profile, ok or refused with the reason.  The bytes out are
 * those the caller gets: none when refused.
 */
static void
ngsp_lua_mask_count(ngx_http_request_t *r, ngx_str_t *profile,
    ngx_uint_t why, ngsp_mask_body_t *mask, size_t in, size_t out)
{
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = ngx_http_ngsp_status_counting(r);
    if (mcf == NULL) {
        return;
    }

    ngx_http_ngsp_status_count_mask(mcf, profile,
                                    why == NGX_HTTP_NGSP_MASK_WHY_NONE
                                    ? NGX_HTTP_NGSP_STATUS_MASK_OK
                                    : NGX_HTTP_NGSP_STATUS_MASK_ERROR,
                                    why,
                                    mask ? ngsp_mask_body_masked(mask) : 0,
                                    (off_t) in, (off_t) out);
}


/*
 * The syntax a content type means to the filter, or why it is refused:
 * the text, and in *why the filter's reason.
 */
static const char *
ngsp_lua_syntax(const u_char *ctype, size_t ctype_len,
    ngsp_mask_syntax_t *syntax, ngx_uint_t *why)
{
    const char         *text;
    ngsp_mask_ctype_t   ct;

    /* callers name the same one or two types again and again */
    if (ctype_len == ngsp_lua_ctype_len
        && ngx_memcmp(ctype, ngsp_lua_ctype, ctype_len) == 0)
    {
        *syntax = ngsp_lua_ctype_syntax;
        return NULL;
    }

    *why = NGX_HTTP_NGSP_MASK_WHY_TYPE;

    text = ngsp_mask_ctype_parse(ctype, ctype_len, &ct);
    if (text) {
        return text;
    }

    if (!ngsp_mask_ctype_charset_ok(&ct)) {
        *why = NGX_HTTP_NGSP_MASK_WHY_CHARSET;
        return "a charset other than utf-8";
    }

    switch (ngsp_mask_media(ct.type, ct.type_len)) {

    case NGSP_MASK_MEDIA_JSON:
        *syntax = NGSP_MASK_SYNTAX_JSON;
        break;

    case NGSP_MASK_MEDIA_XML:
        *syntax = NGSP_MASK_SYNTAX_XML;
        break;

    default:
        return "a type neither JSON nor XML";
    }

    if (ctype_len <= NGSP_LUA_CTYPE_MEMO) {
        ngx_memcpy(ngsp_lua_ctype, ctype, ctype_len);
        ngsp_lua_ctype_len = ctype_len;
        ngsp_lua_ctype_syntax = *syntax;
    }

    return NULL;
}


/* a kept rewriter of this configuration, reset; or a new one, kept */
static ngsp_mask_body_t *
ngsp_lua_rewriter(ngsp_mask_syntax_t syntax,
    const ngsp_mask_stream_conf_t *sc)
{
    ngx_uint_t           i;
    ngsp_lua_kept_t     *k;
    ngsp_mask_body_t    *b;
    ngx_pool_cleanup_t  *cln;

    if (ngsp_lua_kept_cycle != (ngx_cycle_t *) ngx_cycle) {
        ngsp_lua_kept_free(NULL);

        cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
        if (cln == NULL) {
            return NULL;
        }

        cln->handler = ngsp_lua_kept_free;
        ngsp_lua_kept_cycle = (ngx_cycle_t *) ngx_cycle;
    }

    for (i = 0; i < ngsp_lua_nkept; i++) {
        k = &ngsp_lua_kept[i];

        if (k->syntax == syntax && k->profile == sc->profile
            && k->key == sc->key && k->max_depth == sc->max_depth
            && k->max_value == sc->max_value)
        {
            ngsp_mask_body_reset(k->body);
            return k->body;
        }
    }

    b = ngsp_mask_body_new(syntax, sc);
    if (b == NULL) {
        return NULL;
    }

    /* every byte is copied into the caller's buffer: a short span after
     * a masked value costs less staged than in a callback of its own */
    ngsp_mask_body_copy_spans(b, 64);

    /* full: the oldest made goes */
    if (ngsp_lua_nkept < NGSP_LUA_KEPT) {
        k = &ngsp_lua_kept[ngsp_lua_nkept++];

    } else {
        k = &ngsp_lua_kept[ngsp_lua_next_kept];
        ngsp_lua_next_kept = (ngsp_lua_next_kept + 1) % NGSP_LUA_KEPT;
        ngsp_mask_body_free(k->body);
    }

    k->body = b;
    k->syntax = syntax;
    k->profile = sc->profile;
    k->key = sc->key;
    k->max_depth = sc->max_depth;
    k->max_value = sc->max_value;

    return b;
}


static void
ngsp_lua_kept_free(void *data)
{
    ngx_uint_t  i;

    for (i = 0; i < ngsp_lua_nkept; i++) {
        ngsp_mask_body_free(ngsp_lua_kept[i].body);
    }

    ngx_memzero(ngsp_lua_kept, sizeof(ngsp_lua_kept));
    ngsp_lua_nkept = 0;
    ngsp_lua_next_kept = 0;
    ngsp_lua_kept_cycle = NULL;
}


/* the output goes into the caller's buffer while it fits; then counted */
static int
ngsp_lua_mask_out(void *data, const unsigned char *p, size_t len,
    unsigned flags)
{
    ngsp_lua_out_t  *out = data;

    if (len && out->len + len <= out->size) {
        ngx_memcpy(out->buf + out->len, p, len);
    }

    out->len += len;

    return 0;
}


/* --- quota ---------------------------------------------------------------- */


int
ngsp_lua_quota_redis(ngx_http_request_t *r, ngsp_lua_redis_t *out)
{
    int                               port;
    ngx_str_t                         host;
    ngx_http_ngsp_quota_loc_conf_t   *lcf;
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    if (r == NULL || out == NULL) {
        return NGSP_LUA_ERROR;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_quota_module);

    ngx_memzero(out, sizeof(ngsp_lua_redis_t));

    out->timeout = (int) lcf->timeout;
    out->fail_open = lcf->fail_open ? 1 : 0;

    if (mcf->redis.host.len == 0) {
        return NGSP_LUA_DECLINED;
    }

    if (mcf->redis.mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        /* the worker's master, checked by ROLE; host_len 0: none now */
        if (ngx_http_ngsp_redis_current(&host, &port) == NGX_OK) {
            out->host = host.data;
            out->host_len = host.len;
            out->port = port;
        }

    } else {
        out->host = mcf->redis.host.data;
        out->host_len = mcf->redis.host.len;
        out->port = mcf->redis.port;

        /*
         * a cluster: a master this worker talks to (else the first seed);
         * Lua follows the MOVED or ASK of another slot's master itself
         */
        if (mcf->redis.mode == NGX_HTTP_NGSP_REDIS_CLUSTER
            && ngx_http_ngsp_redis_cluster_any(&host, &port) == NGX_OK)
        {
            out->host = host.data;
            out->host_len = host.len;
            out->port = port;
        }
    }

    out->password = mcf->redis.password.data;
    out->password_len = mcf->redis.password.len;
    out->db = (int) mcf->redis.db;

    return NGSP_LUA_OK;
}


static ngsp_quota_policy_t *
ngsp_lua_policy(ngx_http_request_t *r, const u_char *name, size_t len)
{
    ngx_uint_t                        i;
    ngsp_quota_policy_t              *p;
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    if (name == NULL || len == 0 || len > NGSP_QUOTA_NAME_MAX) {
        return NULL;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    if (mcf->policies == NULL) {
        return NULL;
    }

    p = mcf->policies->elts;

    for (i = 0; i < mcf->policies->nelts; i++) {
        if (ngx_strlen(p[i].name) == len
            && ngx_memcmp(p[i].name, name, len) == 0)
        {
            return &p[i];
        }
    }

    return NULL;
}


/* the command the C handler sends for the same policy and key */
int
ngsp_lua_quota_command(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, const u_char *key, size_t key_len, int eval,
    u_char *buf, size_t size, size_t *len)
{
    size_t                            n, tag_len, need;
    ngsp_quota_policy_t              *p;
    ngx_http_ngsp_quota_main_conf_t  *mcf;
    char                              tag[NGSP_QUOTA_TAG_MAX + 1];

    if (r == NULL || len == NULL || (buf == NULL && size)
        || key == NULL || key_len == 0 || key_len > NGSP_LUA_MAX_RULE)
    {
        return NGSP_LUA_ERROR;
    }

    p = ngsp_lua_policy(r, policy, policy_len);
    if (p == NULL) {
        return NGSP_LUA_DECLINED;
    }

    need = NGSP_QUOTA_CMD_MAX + (eval ? ngsp_quota_script_len : 0);

    if (size < need) {
        *len = need;
        return NGSP_LUA_AGAIN;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    tag_len = ngsp_quota_tag(key, key_len, tag);
    if (tag_len == 0) {
        return NGSP_LUA_ERROR;
    }

    n = ngsp_quota_command(buf, size, eval ? NULL : mcf->sha1, tag, tag_len,
                           p, (long) mcf->tz);
    if (n == 0) {
        return NGSP_LUA_ERROR;
    }

    *len = n;

    return NGSP_LUA_OK;
}


int
ngsp_lua_quota_reply(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, const u_char *reply, size_t reply_len,
    ngsp_lua_quota_decision_t *d)
{
    size_t                            i;
    ngsp_quota_policy_t              *p;
    ngsp_quota_decision_t             qd;
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    if (r == NULL || d == NULL || reply == NULL || reply_len == 0
        || reply_len > NGSP_LUA_MAX_REPLY)
    {
        return NGSP_LUA_ERROR;
    }

    p = ngsp_lua_policy(r, policy, policy_len);
    if (p == NULL) {
        return NGSP_LUA_DECLINED;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    if (ngsp_quota_reply_parse(reply, reply_len, p, (long) mcf->tz, &qd) != 0
        || qd.nwindows > NGSP_QUOTA_MAX_WINDOWS)
    {
        return NGSP_LUA_ERROR;
    }

    ngx_memzero(d, sizeof(ngsp_lua_quota_decision_t));

    d->allowed = qd.allowed ? 1 : 0;
    d->nwindows = (int) qd.nwindows;
    d->tightest = (int) qd.tightest;
    d->retry_after = qd.retry_after;

    for (i = 0; i < qd.nwindows; i++) {
        d->windows[i].unit = ngsp_quota_unit_name(qd.windows[i].unit);
        d->windows[i].limit = qd.windows[i].limit;
        d->windows[i].remaining = qd.windows[i].remaining;
        d->windows[i].reset = qd.windows[i].reset;
        d->windows[i].width = qd.windows[i].width;
    }

    return NGSP_LUA_OK;
}


/* --- the status zone ----------------------------------------------------- */


/*
 * A decision made from Lua counts at once, under the row the log phase
 * gives a C decision of the request.  d's window units are compared as
 * the pointers ngsp_lua_quota_reply gives, never read: Lua may pass any.
 */
int
ngsp_lua_status_quota(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, int outcome, const ngsp_lua_quota_decision_t *d)
{
    size_t                             i, u;
    uint64_t                          *row;
    ngsp_quota_policy_t               *p;
    ngsp_quota_decision_t              qd, *pd;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    if (r == NULL || r->pool == NULL
        || outcome < NGX_HTTP_NGSP_STATUS_ALLOWED
        || outcome > NGX_HTTP_NGSP_STATUS_ERROR
        || (d == NULL && outcome != NGX_HTTP_NGSP_STATUS_ERROR))
    {
        return NGSP_LUA_ERROR;
    }

    p = ngsp_lua_policy(r, policy, policy_len);
    if (p == NULL) {
        return NGSP_LUA_ERROR;
    }

    pd = NULL;

    if (d) {
        if (d->nwindows < 0 || d->nwindows > NGSP_QUOTA_MAX_WINDOWS) {
            return NGSP_LUA_ERROR;
        }

        ngx_memzero(&qd, sizeof(ngsp_quota_decision_t));
        qd.nwindows = (size_t) d->nwindows;

        for (i = 0; i < qd.nwindows; i++) {
            for (u = NGSP_QUOTA_SEC; u <= NGSP_QUOTA_MONTH; u++) {
                if (d->windows[i].unit
                    == ngsp_quota_unit_name((ngsp_quota_unit_t) u))
                {
                    break;
                }
            }

            if (u > NGSP_QUOTA_MONTH || d->windows[i].limit < 0) {
                return NGSP_LUA_ERROR;
            }

            qd.windows[i].unit = (ngsp_quota_unit_t) u;
            qd.windows[i].limit = d->windows[i].limit;
            qd.windows[i].remaining = d->windows[i].remaining;
            qd.windows[i].reset = d->windows[i].reset;
            qd.windows[i].width = d->windows[i].width;
        }

        pd = &qd;
    }

    mcf = ngx_http_ngsp_status_counting(r);
    if (mcf == NULL) {
        return NGSP_LUA_DECLINED;
    }

    row = ngx_http_ngsp_status_request_row(mcf, r);
    if (row == NULL) {
        return NGSP_LUA_DECLINED;
    }

    ngx_http_ngsp_status_count_quota(mcf, row, p, (ngx_uint_t) outcome, pd);

    return NGSP_LUA_OK;
}


/* --- helpers -------------------------------------------------------------- */


static void
ngsp_lua_err(u_char *err, size_t size, const char *text)
{
    size_t  n;

    if (err == NULL || size == 0) {
        return;
    }

    n = ngx_min(ngx_strlen(text), size - 1);
    ngx_memcpy(err, text, n);
    err[n] = '\0';
}


static int
ngsp_lua_copy(const u_char *src, size_t n, u_char *buf, size_t size,
    size_t *len)
{
    *len = n;

    if (n > size || (buf == NULL && n)) {
        return NGSP_LUA_AGAIN;
    }

    ngx_memcpy(buf, src, n);

    return NGSP_LUA_OK;
}


/* compact JSON into the buffer, with no allocation; one pass if it fits */
static int
ngsp_lua_json(json_t *v, u_char *buf, size_t size, size_t *len)
{
    size_t  n;

    n = json_dumpb(v, (char *) buf, buf ? size : 0, JSON_COMPACT);
    if (n == 0) {
        return NGSP_LUA_ERROR;
    }

    *len = n;

    return (n > size || buf == NULL) ? NGSP_LUA_AGAIN : NGSP_LUA_OK;
}


/*
 * list: n NUL-terminated copies, then NULL; the copies go into [*pos, end)
 * (the caller's stack) while they fit, then onto the request's pool
 */
static int
ngsp_lua_strs(ngx_http_request_t *r, const ngsp_lua_str_t *in, size_t n,
    const char **list, u_char **pos, u_char *end)
{
    u_char  *p;
    size_t   i, len;

    for (i = 0; i < n; i++) {
        len = in[i].len;

        if (in[i].data == NULL || len == 0 || len > NGSP_LUA_MAX_RULE
            || memchr(in[i].data, '\0', len) != NULL)
        {
            return NGSP_LUA_ERROR;
        }

        if ((size_t) (end - *pos) > len) {
            p = *pos;
            *pos += len + 1;

        } else {
            p = ngx_pnalloc(r->pool, len + 1);
            if (p == NULL) {
                return NGSP_LUA_ERROR;
            }
        }

        ngx_memcpy(p, in[i].data, len);
        p[len] = '\0';
        list[i] = (const char *) p;
    }

    list[n] = NULL;

    return NGSP_LUA_OK;
}


/* "claim op value ..." split on blanks, then read as ngsp_jwt_require */
static int
ngsp_lua_rule(ngx_http_request_t *r, const ngsp_lua_str_t *rule,
    ngsp_jwt_req_t *req, u_char *err, size_t err_size)
{
    u_char      *p, *last, *start;
    ngx_str_t    words[NGSP_LUA_MAX_LIST + 2], msg;
    ngx_uint_t   n;
    u_char       text[NGX_MAX_CONF_ERRSTR];

    if (rule->data == NULL || rule->len == 0
        || rule->len > NGSP_LUA_MAX_RULE
        || ngx_strlchr((u_char *) rule->data,
                       (u_char *) rule->data + rule->len, '\0'))
    {
        ngsp_lua_err(err, err_size, "empty or bad rule");
        return NGSP_LUA_ERROR;
    }

    p = ngx_pnalloc(r->pool, rule->len + 1);
    if (p == NULL) {
        ngsp_lua_err(err, err_size, "out of memory");
        return NGSP_LUA_ERROR;
    }

    ngx_memcpy(p, rule->data, rule->len);
    p[rule->len] = '\0';
    last = p + rule->len;
    n = 0;

    while (p < last) {
        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == NGSP_LUA_MAX_LIST + 2) {
            ngsp_lua_err(err, err_size, "too many values in a rule");
            return NGSP_LUA_ERROR;
        }

        start = p;

        while (p < last && *p != ' ' && *p != '\t') {
            p++;
        }

        *p++ = '\0';

        words[n].data = start;
        words[n].len = ngx_strlen(start);
        n++;
    }

    msg.len = sizeof(text) - 1;
    msg.data = text;

    if (ngx_http_ngsp_jwt_require_parse(r->pool, words, n, req, &msg)
        != NGX_OK)
    {
        msg.data[msg.len] = '\0';
        ngsp_lua_err(err, err_size, msg.len ? (char *) msg.data
                                            : "out of memory");
        return NGSP_LUA_ERROR;
    }

    return NGSP_LUA_OK;
}


static int
ngsp_lua_regex_match(void *re, const char *s, size_t len)
{
    ngx_str_t  str;

    str.data = (u_char *) s;
    str.len = len;

    return ngx_regex_exec((ngx_regex_t *) re, &str, NULL, 0) >= 0;
}
