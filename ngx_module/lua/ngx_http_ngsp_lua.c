/*
 * ngsp's FFI surface for OpenResty Lua (see ngx_http_ngsp_lua.h).  Every
 * function checks its arguments, since Lua may pass anything: a NULL
 * request or buffer, a length that lies.  Results go into the caller's
 * buffers; NGSP_LUA_AGAIN says how much room is needed, so the Lua side
 * grows its one reused buffer and calls again.  The few allocations made
 * (rule lists, a rewriter) live on the request's pool or die before the
 * call returns.
 */

#include "ngx_http_ngsp_lua.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_mask.h"
#include "ngx_http_ngsp_quota.h"


/* a claim name or a rule longer than this is refused unread */
#define NGSP_LUA_MAX_NAME    256
#define NGSP_LUA_MAX_RULE    4096
#define NGSP_LUA_MAX_LIST    64
#define NGSP_LUA_MAX_BODY    (64 * 1024 * 1024)
#define NGSP_LUA_MAX_KEY     (1024 * 1024)
#define NGSP_LUA_MAX_REPLY   4096


struct ngsp_lua_key_s {
    ngsp_jwt_keyset_t          *keyset;
};


typedef struct {
    u_char                     *buf;
    size_t                      size;
    size_t                      len;        /* may pass size: the need */
} ngsp_lua_out_t;


static void ngsp_lua_err(u_char *err, size_t size, const char *text);
static int ngsp_lua_copy(const u_char *src, size_t n, u_char *buf,
    size_t size, size_t *len);
static int ngsp_lua_json(json_t *v, u_char *buf, size_t size, size_t *len);
static ngx_http_ngsp_jwt_ctx_t *ngsp_lua_judged(ngx_http_request_t *r);
static int ngsp_lua_judge(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, ngsp_jwt_t *jwt,
    int *status, u_char *err, size_t err_size);
static int ngsp_lua_strs(ngx_http_request_t *r, const ngsp_lua_str_t *in,
    size_t n, const char ***out);
static int ngsp_lua_rule(ngx_http_request_t *r, const ngsp_lua_str_t *rule,
    ngsp_jwt_req_t *req, u_char *err, size_t err_size);
static int ngsp_lua_regex_match(void *re, const char *s, size_t len);
static int ngsp_lua_mask_out(void *data, const unsigned char *p, size_t len,
    unsigned flags);
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
 * they still stand.  On NGSP_JWT_OK, jwt holds the claims (freed by the
 * caller with ngsp_jwt_free).
 */
static int
ngsp_lua_judge(ngx_http_request_t *r, const u_char *token, size_t token_len,
    const ngsp_lua_verify_opts_t *opts, ngsp_jwt_t *jwt, int *status,
    u_char *err, size_t err_size)
{
    ngx_str_t           tok;
    ngx_uint_t          i;
    ngsp_jwt_req_t     *reqs;
    ngsp_jwt_status_t   st;
    ngsp_jwt_checks_t   checks;

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
        || opts->leeway < 0 || opts->leeway > 86400)
    {
        ngsp_lua_err(err, err_size, "bad options");
        return NGSP_LUA_ERROR;
    }

    checks.leeway = opts->leeway;

    if (ngsp_lua_strs(r, opts->issuers, opts->nissuers,
                      (const char ***) &checks.issuers) != NGSP_LUA_OK
        || ngsp_lua_strs(r, opts->audiences, opts->naudiences,
                         (const char ***) &checks.audiences) != NGSP_LUA_OK)
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

    ngx_memzero(jwt, sizeof(ngsp_jwt_t));

    st = ngx_http_ngsp_jwt_check_token(r, &tok, jwt);

    if (st == NGSP_JWT_OK) {
        st = ngsp_jwt_check_claims(jwt, &checks, ngx_time());
    }

    for (i = 0; st == NGSP_JWT_OK && i < opts->nrequires; i++) {
        if (!ngsp_jwt_req_eval(&reqs[i], jwt->claims, ngsp_lua_regex_match)) {
            st = NGSP_JWT_CLAIM_FAILED;
        }
    }

    *status = (int) st;

    if (st != NGSP_JWT_OK) {
        ngsp_jwt_free(jwt);
        return NGSP_LUA_DECLINED;
    }

    return NGSP_LUA_OK;
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
    int         rc;
    ngsp_jwt_t  jwt;

    rc = ngsp_lua_judge(r, token, token_len, opts, &jwt, status, err,
                        err_size);

    if (rc == NGSP_LUA_OK) {
        ngsp_jwt_free(&jwt);
    }

    return rc;
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

    if (key == NULL || status == NULL || leeway < 0 || leeway > 86400) {
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
    ngsp_lua_out_t                   out;
    ngsp_mask_body_t                *mask;
    ngsp_mask_ctype_t                ct;
    ngsp_mask_media_t                media;
    ngsp_mask_status_t               st;
    ngsp_mask_syntax_t               syntax;
    ngsp_mask_stream_conf_t          sc;
    const char                      *why;
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
        ngsp_lua_err(err, err_size, "unknown profile");
        return NGSP_LUA_DECLINED;
    }

    /* the type decides as the filter's does; none: the first bytes */
    syntax = NGSP_MASK_SYNTAX_SNIFF;

    if (ctype_len) {
        why = ngsp_mask_ctype_parse(ctype, ctype_len, &ct);
        if (why) {
            ngsp_lua_err(err, err_size, why);
            return NGSP_LUA_DECLINED;
        }

        if (!ngsp_mask_ctype_charset_ok(&ct)) {
            ngsp_lua_err(err, err_size, "a charset other than utf-8");
            return NGSP_LUA_DECLINED;
        }

        media = ngsp_mask_media(ct.type, ct.type_len);

        switch (media) {

        case NGSP_MASK_MEDIA_JSON:
            syntax = NGSP_MASK_SYNTAX_JSON;
            break;

        case NGSP_MASK_MEDIA_XML:
            syntax = NGSP_MASK_SYNTAX_XML;
            break;

        default:
            ngsp_lua_err(err, err_size, "a type neither JSON nor XML");
            return NGSP_LUA_DECLINED;
        }
    }

    out.buf = buf;
    out.size = size;
    out.len = 0;

    sc.profile = prof->profile;
    sc.key = mcf->key;
    sc.max_depth = lcf->max_depth;
    sc.max_value = lcf->max_value;
    sc.out = ngsp_lua_mask_out;
    sc.data = &out;

    mask = ngsp_mask_body_new(syntax, &sc);
    if (mask == NULL) {
        ngsp_lua_err(err, err_size, "out of memory");
        return NGSP_LUA_ERROR;
    }

    st = ngsp_mask_body_feed(mask, body, body_len);

    if (st == NGSP_MASK_OK) {
        st = ngsp_mask_body_finish(mask);
    }

    if (st != NGSP_MASK_OK) {
        ngsp_lua_err(err, err_size, ngsp_mask_body_reason(mask));
        ngsp_mask_body_free(mask);

        /* fail closed: whatever was written is not the masked body */
        *len = 0;
        return (st == NGSP_MASK_ERR_NOMEM) ? NGSP_LUA_ERROR
                                           : NGSP_LUA_DECLINED;
    }

    ngsp_mask_body_free(mask);

    *len = out.len;

    return (out.len > size) ? NGSP_LUA_AGAIN : NGSP_LUA_OK;
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

    out->host = mcf->redis.host.data;
    out->host_len = mcf->redis.host.len;
    out->port = mcf->redis.port;
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
    size_t                  i;
    ngsp_quota_policy_t    *p;
    ngsp_quota_decision_t   qd;

    if (r == NULL || d == NULL || reply == NULL || reply_len == 0
        || reply_len > NGSP_LUA_MAX_REPLY)
    {
        return NGSP_LUA_ERROR;
    }

    p = ngsp_lua_policy(r, policy, policy_len);
    if (p == NULL) {
        return NGSP_LUA_DECLINED;
    }

    if (ngsp_quota_reply_parse(reply, reply_len, p, &qd) != 0
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


/* a NULL-terminated list of NUL-terminated copies, on the request's pool */
static int
ngsp_lua_strs(ngx_http_request_t *r, const ngsp_lua_str_t *in, size_t n,
    const char ***out)
{
    u_char       *p;
    size_t        i;
    const char  **list;

    *out = NULL;

    if (n == 0) {
        return NGSP_LUA_OK;
    }

    list = ngx_pcalloc(r->pool, (n + 1) * sizeof(char *));
    if (list == NULL) {
        return NGSP_LUA_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (in[i].data == NULL || in[i].len == 0
            || in[i].len > NGSP_LUA_MAX_RULE
            || ngx_strlchr((u_char *) in[i].data,
                           (u_char *) in[i].data + in[i].len, '\0'))
        {
            return NGSP_LUA_ERROR;
        }

        p = ngx_pnalloc(r->pool, in[i].len + 1);
        if (p == NULL) {
            return NGSP_LUA_ERROR;
        }

        ngx_memcpy(p, in[i].data, in[i].len);
        p[in[i].len] = '\0';
        list[i] = (const char *) p;
    }

    *out = list;

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
