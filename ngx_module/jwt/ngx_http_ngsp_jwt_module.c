/*
 * ngx_http_ngsp_module: JWT validation in the access phase, its
 * directives and configuration.  The shared object also carries
 * ngx_http_ngsp_quota_module and ngx_http_ngsp_mask_filter_module.
 */

#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_log.h"
#include "ngx_http_ngsp_variables.h"


/* a certificate that expires within this is warned of at load */
#define NGX_HTTP_NGSP_KEY_EXPIRY_WARN  (30 * 86400)


static ngx_int_t ngx_http_ngsp_challenge(ngx_http_request_t *r,
    ngx_str_t *value);
static ngx_int_t ngx_http_ngsp_init_process(ngx_cycle_t *cycle);
static void ngx_http_ngsp_exit_process(ngx_cycle_t *cycle);

static void *ngx_http_ngsp_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_ngsp_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_ngsp_build_challenge(ngx_conf_t *cf,
    ngx_str_t *out, ngx_str_t *realm, char *error);

static char *ngx_http_ngsp_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_ngsp_key_expiry(ngx_conf_t *cf, ngsp_jwt_keyset_t *ks,
    size_t first, ngx_str_t *path);
static char *ngx_http_ngsp_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_key_request(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ngsp_keyset_make(ngx_conf_t *cf,
    ngx_http_ngsp_main_conf_t *mcf);
static char *ngx_http_ngsp_enable(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_str_list(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_leeway(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_agency_claim(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ngsp_claim_name(ngx_conf_t *cf, ngx_command_t *cmd,
    ngx_str_t *name);

static ngx_int_t ngx_http_ngsp_add_jwt_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ngsp_init(ngx_conf_t *cf);


static ngx_command_t  ngx_http_ngsp_commands[] = {

    { ngx_string("ngsp_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_ngsp_key_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_jwt_key_request"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_key_request,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_jwt_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_ngsp_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_http_ngsp_enable,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, enable),
      NULL },

    { ngx_string("ngsp_jwt_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, realm),
      NULL },

    { ngx_string("ngsp_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, issuers),
      NULL },

    { ngx_string("ngsp_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_str_list,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, audiences),
      NULL },

    { ngx_string("ngsp_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_leeway,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, leeway),
      NULL },

    { ngx_string("ngsp_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_ngsp_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_agency_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ngsp_agency_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_jwt_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ngsp_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, token),
      NULL },

    { ngx_string("ngsp_jwt_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ngsp_loc_conf_t, log_level),
      &ngx_http_ngsp_log_levels },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_module_ctx = {
    ngx_http_ngsp_add_jwt_variables,       /* preconfiguration */
    ngx_http_ngsp_init,                    /* postconfiguration */

    ngx_http_ngsp_create_main_conf,        /* create main configuration */
    ngx_http_ngsp_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ngsp_create_loc_conf,         /* create location configuration */
    ngx_http_ngsp_merge_loc_conf           /* merge location configuration */
};


/*
 * Named ngx_http_ngsp_module, not ..._jwt_module: the first module in
 * config's ngx_module_name names the shared object, and users load
 * ngx_http_ngsp_module.so.
 */
ngx_module_t  ngx_http_ngsp_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_module_ctx,             /* module context */
    ngx_http_ngsp_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_ngsp_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ngsp_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


ngx_int_t
ngx_http_ngsp_handler(ngx_http_request_t *r)
{
    ngx_str_t                  *challenge, agency;
    ngx_int_t                   status;
    ngx_http_ngsp_jwt_ctx_t    *ctx;
    ngx_http_ngsp_loc_conf_t   *lcf;
    ngx_http_ngsp_main_conf_t  *mcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_module);

    if (!lcf->enable || ngx_http_ngsp_jwks_is_fetch(r)) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp jwt access handler");

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    if (mcf->jwks_zone
        && ngx_http_ngsp_jwks_before(r, mcf, ngx_http_ngsp_jwt_get_ctx(r))
           == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    ctx = ngx_http_ngsp_jwt_eval(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (mcf->jwks_zone
        && ngx_http_ngsp_jwks_after(r, mcf, ctx) == NGX_AGAIN)
    {
        return NGX_AGAIN;
    }

    switch (ctx->status) {

    case NGSP_JWT_OK:
        return NGX_OK;

    case NGSP_JWT_MISSING:
        /* RFC 6750 §3.1: no error code when no credentials were sent */
        challenge = &lcf->challenge;
        status = NGX_HTTP_UNAUTHORIZED;
        break;

    case NGSP_JWT_CLAIM_FAILED:
        challenge = &lcf->challenge_scope;
        status = NGX_HTTP_FORBIDDEN;
        break;

    default:
        challenge = &lcf->challenge_invalid;
        status = NGX_HTTP_UNAUTHORIZED;
        break;
    }

    /* the reason only: never the token; the agency is the caller's text */
    if (ctx->agency.len) {
        agency = ngx_http_ngsp_log_escape(r->pool, &ctx->agency);
        ngx_log_error(lcf->log_level, r->connection->log, 0,
                      "ngsp: jwt rejected: %s, agency \"%V\"",
                      ngsp_jwt_status_name(ctx->status), &agency);

    } else {
        ngx_log_error(lcf->log_level, r->connection->log, 0,
                      "ngsp: jwt rejected: %s",
                      ngsp_jwt_status_name(ctx->status));
    }

    if (ngx_http_ngsp_challenge(r, challenge) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return status;
}


static ngx_int_t
ngx_http_ngsp_challenge(ngx_http_request_t *r, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_http_ngsp_push_header(r, "WWW-Authenticate", value->data,
                                  value->len);
    if (h == NULL) {
        return NGX_ERROR;
    }

    r->headers_out.www_authenticate = h;

    return NGX_OK;
}


/* --- worker ------------------------------------------------------------ */


static ngx_int_t
ngx_http_ngsp_init_process(ngx_cycle_t *cycle)
{
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ngsp_module);

    /* no http block, or no keys: no JWT is ever verified */
    if (mcf == NULL || mcf->keyset == NULL) {
        return NGX_OK;
    }

    return ngx_http_ngsp_jwt_init_worker(cycle, mcf);
}


static void
ngx_http_ngsp_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ngsp_module);

    ngx_http_ngsp_jwks_exit_worker(mcf);
    ngx_http_ngsp_jwt_exit_worker();
}


/* --- configuration ----------------------------------------------------- */


static void
ngx_http_ngsp_keyset_cleanup(void *data)
{
    ngsp_jwt_keyset_free(data);
}


static void *
ngx_http_ngsp_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->cache_size = NGX_CONF_UNSET_SIZE;
    mcf->cache_valid = NGX_CONF_UNSET;
    mcf->jwks_valid = NGX_CONF_UNSET;

    return mcf;
}


static char *
ngx_http_ngsp_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ngsp_main_conf_t  *mcf = conf;

    ngx_conf_init_size_value(mcf->cache_size, 1024 * 1024);
    ngx_conf_init_value(mcf->cache_valid, 600);

    mcf->file_keyset = mcf->keyset;

    /* no keys, nothing to cache */
    if (mcf->keyset == NULL) {
        return NGX_CONF_OK;
    }

    return ngx_http_ngsp_jwt_cache_init_conf(cf, mcf);
}


static void *
ngx_http_ngsp_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lcf->realm = { 0, NULL };
     *     lcf->issuers = NULL;
     *     lcf->audiences = NULL;
     *     lcf->requires = NULL;
     *     lcf->token = NULL;
     */

    lcf->enable = NGX_CONF_UNSET;
    lcf->leeway = NGX_CONF_UNSET;
    lcf->agency_claims = NGX_CONF_UNSET_PTR;
    lcf->log_level = NGX_CONF_UNSET_UINT;

    return lcf;
}


static char *
ngx_http_ngsp_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ngsp_loc_conf_t  *prev = parent;
    ngx_http_ngsp_loc_conf_t  *conf = child;

    ngx_str_t                  *s;
    ngx_http_ngsp_main_conf_t  *mcf;

    if (conf->enable == NGX_CONF_UNSET) {
        conf->enable_file = prev->enable_file;
        conf->enable_line = prev->enable_line;
    }

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->realm, prev->realm, "ngsp");
    ngx_conf_merge_value(conf->leeway, prev->leeway, 0);
    ngx_conf_merge_uint_value(conf->log_level, prev->log_level, NGX_LOG_INFO);

    if (conf->issuers == NULL) {
        conf->issuers = prev->issuers;
    }

    if (conf->audiences == NULL) {
        conf->audiences = prev->audiences;
    }

    if (conf->requires == NULL) {
        conf->requires = prev->requires;
    }

    if (conf->token == NULL) {
        conf->token = prev->token;
    }

    ngx_conf_merge_ptr_value(conf->agency_claims, prev->agency_claims, NULL);

    if (conf->agency_claims == NULL) {
        conf->agency_claims = ngx_array_create(cf->pool, 2,
                                               sizeof(ngx_str_t));
        if (conf->agency_claims == NULL) {
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push_n(conf->agency_claims, 2);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_str_set(&s[0], "client_id");
        ngx_str_set(&s[1], "azp");

        /* children without their own list share this one */
        prev->agency_claims = conf->agency_claims;
    }

    if (conf->enable) {
        mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_module);

        if (mcf->keyset == NULL) {
            ngx_http_ngsp_conf_error_at(cf, &conf->enable_file,
                                        conf->enable_line,
                                        "ngsp: \"ngsp_jwt on\" needs at "
                                        "least one \"ngsp_jwt_key_file\" "
                                        "or \"ngsp_jwt_key_request\" at "
                                        "http level");
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_http_ngsp_build_challenge(cf, &conf->challenge, &conf->realm,
                                      NULL) != NGX_OK
        || ngx_http_ngsp_build_challenge(cf, &conf->challenge_invalid,
                                         &conf->realm, "invalid_token")
           != NGX_OK
        || ngx_http_ngsp_build_challenge(cf, &conf->challenge_scope,
                                         &conf->realm, "insufficient_scope")
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Bearer realm="..."[, error="..."] with the realm's quotes escaped */
static ngx_int_t
ngx_http_ngsp_build_challenge(ngx_conf_t *cf, ngx_str_t *out,
    ngx_str_t *realm, char *error)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = sizeof("Bearer realm=\"\"") - 1 + 2 * realm->len;
    if (error) {
        len += sizeof(", error=\"\"") - 1 + ngx_strlen(error);
    }

    p = ngx_pnalloc(cf->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, "Bearer realm=\"", sizeof("Bearer realm=\"") - 1);

    for (i = 0; i < realm->len; i++) {
        if (realm->data[i] == '"' || realm->data[i] == '\\') {
            *p++ = '\\';
        }
        *p++ = realm->data[i];
    }

    *p++ = '"';

    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\"", error);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/* --- directives -------------------------------------------------------- */


static char *
ngx_http_ngsp_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_main_conf_t  *mcf = conf;

    int                  n;
    size_t               first;
    u_char              *p, *last, *comma;
    char                *kid;
    unsigned             algs;
    ngx_str_t           *value, path;
    ngx_uint_t           i;
    ngsp_jwt_alg_t       alg;
    char                 err[256];

    value = cf->args->elts;

    path = value[1];
    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    algs = 0;
    kid = NULL;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "alg=", 4) == 0) {
            p = value[i].data + 4;
            last = value[i].data + value[i].len;

            while (p < last) {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                alg = ngsp_jwt_alg_parse((char *) p, comma - p);
                if (alg == NGSP_ALG_NONE) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "ngsp: unknown algorithm \"%*s\" in "
                                       "\"%V\"", comma - p, p, &value[i]);
                    return NGX_CONF_ERROR;
                }

                algs |= NGSP_ALG_BIT(alg);
                p = comma + 1;
            }

            if (algs == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ngsp: empty \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "kid=", 4) == 0 && value[i].len > 4) {
            kid = (char *) value[i].data + 4;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ngsp_keyset_make(cf, mcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    first = ngsp_jwt_keyset_count(mcf->keyset);

    n = ngsp_jwt_keyset_add_file(mcf->keyset, (char *) path.data, algs, kid,
                                 err, sizeof(err));
    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: cannot load key file \"%V\": %s",
                           &path, err);
        return NGX_CONF_ERROR;
    }

    ngx_http_ngsp_key_expiry(cf, mcf->keyset, first, &path);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ngsp_keyset_make(ngx_conf_t *cf, ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_pool_cleanup_t  *cln;

    if (mcf->keyset) {
        return NGX_OK;
    }

    mcf->keyset = ngsp_jwt_keyset_new();
    if (mcf->keyset == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngsp_jwt_keyset_free(mcf->keyset);
        mcf->keyset = NULL;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ngsp_keyset_cleanup;
    cln->data = mcf->keyset;

    return NGX_OK;
}


/* ngsp_jwt_key_request uri [valid=] [stale=] [refresh_unknown=] */
static char *
ngx_http_ngsp_key_request(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_main_conf_t  *mcf = conf;

    time_t       t, *dst;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (mcf->jwks_valid != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0 || value[1].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"%V\" takes the URI of a location, such "
                           "as /_jwks, not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->jwks_uri = value[1];
    mcf->jwks_valid = 600;
    mcf->jwks_stale = 86400;
    mcf->jwks_unknown = 30;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "valid=", 6) == 0) {
            dst = &mcf->jwks_valid;
            s.data = value[i].data + 6;

        } else if (ngx_strncmp(value[i].data, "stale=", 6) == 0) {
            dst = &mcf->jwks_stale;
            s.data = value[i].data + 6;

        } else if (ngx_strncmp(value[i].data, "refresh_unknown=", 16) == 0) {
            dst = &mcf->jwks_unknown;
            s.data = value[i].data + 16;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        s.len = value[i].data + value[i].len - s.data;
        t = ngx_parse_time(&s, 1);

        if (t == (time_t) NGX_ERROR || (t == 0 && dst == &mcf->jwks_valid)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid \"%V\": a time such as 30s "
                               "or 10m", &value[i]);
            return NGX_CONF_ERROR;
        }

        *dst = t;
    }

    if (mcf->jwks_stale < mcf->jwks_valid) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: stale= is shorter than valid=");
        return NGX_CONF_ERROR;
    }

    /* keys may come from the issuer alone */
    if (ngx_http_ngsp_keyset_make(cf, mcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_ngsp_jwks_conf(cf, mcf);
}


/*
 * A certificate that expires soon (or has) is said once, when the
 * configuration is read, so nginx -t shows it; verification goes on with
 * the key, as the issuer may still sign with it.
 */
static void
ngx_http_ngsp_key_expiry(ngx_conf_t *cf, ngsp_jwt_keyset_t *ks, size_t first,
    ngx_str_t *path)
{
    size_t                i;
    time_t                now;
    ngx_tm_t              tm;
    ngsp_jwt_key_info_t   info;

    now = ngx_time();

    for (i = first; ngsp_jwt_keyset_info(ks, i, &info) == 0; i++) {

        if (info.not_after == 0
            || info.not_after > (int64_t) now + NGX_HTTP_NGSP_KEY_EXPIRY_WARN)
        {
            continue;
        }

        ngx_gmtime((time_t) info.not_after, &tm);

        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ngsp: the certificate of key %s%s%s in \"%V\" "
                           "%s on %4d-%02d-%02d %02d:%02d:%02d UTC",
                           info.kid ? "\"" : "",
                           info.kid ? info.kid : "without kid",
                           info.kid ? "\"" : "", path,
                           info.not_after <= (int64_t) now
                           ? "expired" : "expires",
                           tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                           tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
    }
}


static char *
ngx_http_ngsp_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_main_conf_t  *mcf = conf;

    ssize_t     size;
    time_t      valid;
    ngx_str_t  *value, s;

    if (mcf->cache_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0 && cf->args->nelts == 2) {
        mcf->cache_size = 0;
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);
    if (size == NGX_ERROR || (size_t) size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid cache size \"%V\" (%uzk at least)",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    mcf->cache_size = (size_t) size;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "valid=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 6;
        s.len = value[2].len - 6;

        valid = ngx_parse_time(&s, 1);
        if (valid == (time_t) NGX_ERROR || valid == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        mcf->cache_valid = valid;
    }

    return NGX_CONF_OK;
}


/* where "ngsp_jwt on" was set, for the check that keys exist (merge) */
static char *
ngx_http_ngsp_enable(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_loc_conf_t  *lcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, conf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    lcf->enable_file = cf->conf_file->file.name;
    lcf->enable_line = cf->conf_file->line;

    return NGX_CONF_OK;
}


/* values appended to a NULL-terminated array of C strings */
static char *
ngx_http_ngsp_str_list(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    char         **s;
    ngx_str_t     *value;
    ngx_uint_t     i;
    ngx_array_t  **a;

    a = (ngx_array_t **) (p + cmd->offset);

    if (*a == NULL) {
        *a = ngx_array_create(cf->pool, 4, sizeof(char *));
        if (*a == NULL) {
            return NGX_CONF_ERROR;
        }

    } else {
        (*a)->nelts--;      /* the terminating NULL */
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(*a);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        /* configuration strings are NUL-terminated by the parser */
        *s = (char *) value[i].data;
    }

    s = ngx_array_push(*a);
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    *s = NULL;

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_leeway(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_loc_conf_t  *lcf = conf;

    time_t      leeway;
    ngx_str_t  *value;

    if (lcf->leeway != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    leeway = ngx_parse_time(&value[1], 1);
    if (leeway == (time_t) NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid leeway \"%V\": a time such as "
                           "30s or 2m", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (leeway > NGSP_JWT_LEEWAY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: leeway \"%V\" is more than 1h: a skew "
                           "that large turns expiry off", &value[1]);
        return NGX_CONF_ERROR;
    }

    lcf->leeway = leeway;

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_loc_conf_t  *lcf = conf;

    ngx_str_t        *value, err;
    ngsp_jwt_req_t   *req;
    u_char            errstr[NGX_MAX_CONF_ERRSTR];

    value = cf->args->elts;

    if (lcf->requires == NULL) {
        lcf->requires = ngx_array_create(cf->pool, 2, sizeof(ngsp_jwt_req_t));
        if (lcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(lcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ngsp_claim_name(cf, cmd, &value[1]) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    err.len = NGX_MAX_CONF_ERRSTR;
    err.data = errstr;

    if (ngx_http_ngsp_jwt_require_parse(cf->pool, &value[1],
                                        cf->args->nelts - 1, req, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * One rule from its words (claim, operator, values), each NUL-terminated;
 * shared with the Lua surface, so both read rules alike.  NGX_ERROR with
 * the reason in err (err->len: its room on entry, its length on return).
 */
ngx_int_t
ngx_http_ngsp_jwt_require_parse(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t nelts, ngsp_jwt_req_t *req, ngx_str_t *err)
{
    int                   ok;
    char                 *want;
    ngx_uint_t            i, n;
    ngx_regex_compile_t   rc;
    u_char                errstr[NGX_MAX_CONF_ERRSTR];

    ngx_memzero(req, sizeof(ngsp_jwt_req_t));

    if (nelts < 2) {
        err->len = ngx_snprintf(err->data, err->len,
                                "ngsp: a rule takes a claim and an operator")
                   - err->data;
        return NGX_ERROR;
    }

    req->claim = (char *) value[0].data;

    req->op = ngsp_jwt_req_op_parse((char *) value[1].data, &ok);
    if (!ok) {
        err->len = ngx_snprintf(err->data, err->len,
                                "ngsp: unknown operator \"%V\": use eq, ne, "
                                "in, contains, exists or match, as in "
                                "\"ngsp_jwt_require scope contains "
                                "dancu.read\"", &value[1])
                   - err->data;
        return NGX_ERROR;
    }

    n = nelts - 2;

    switch (req->op) {

    case NGSP_REQ_EXISTS:
        want = (n == 0) ? NULL : "no value";
        break;

    case NGSP_REQ_IN:
    case NGSP_REQ_CONTAINS:
        want = (n > 0) ? NULL : "one value or more";
        break;

    default:
        want = (n == 1) ? NULL : "exactly one value";
        break;
    }

    if (want) {
        err->len = ngx_snprintf(err->data, err->len,
                                "ngsp: operator \"%V\" takes %s, not %ui",
                                &value[1], want, n)
                   - err->data;
        return NGX_ERROR;
    }

    req->values = ngx_pcalloc(pool, (n + 1) * sizeof(char *));
    if (req->values == NULL) {
        err->len = 0;
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        req->values[i] = (char *) value[2 + i].data;
    }

    if (req->op == NGSP_REQ_MATCH) {
        req->regexes = ngx_pcalloc(pool, sizeof(void *));
        if (req->regexes == NULL) {
            err->len = 0;
            return NGX_ERROR;
        }

        ngx_memzero(&rc, sizeof(ngx_regex_compile_t));
        rc.pattern = value[2];
        rc.pool = pool;
        rc.err.len = NGX_MAX_CONF_ERRSTR;
        rc.err.data = errstr;

        if (ngx_regex_compile(&rc) != NGX_OK) {
            err->len = ngx_snprintf(err->data, err->len, "ngsp: %V", &rc.err)
                       - err->data;
            return NGX_ERROR;
        }

        req->regexes[0] = rc.regex;
    }

    return NGX_OK;
}


static char *
ngx_http_ngsp_agency_claim(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_loc_conf_t  *lcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (lcf->agency_claims != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    lcf->agency_claims = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                          sizeof(ngx_str_t));
    if (lcf->agency_claims == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_http_ngsp_claim_name(cf, cmd, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(lcf->agency_claims);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }
        *s = value[i];
    }

    return NGX_CONF_OK;
}


/* the token is read from a variable; a constant would be the token itself */
static char *
ngx_http_ngsp_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    if (ngx_http_script_variables_count(&value[1]) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"%V\" takes a variable, such as "
                           "$cookie_access_token or $arg_access_token, "
                           "not \"%V\"", &cmd->name, &value[1]);
        return NGX_CONF_ERROR;
    }

    return ngx_http_set_complex_value_slot(cf, cmd, conf);
}


/* claims are named as in the token: a variable here is a common slip */
static ngx_int_t
ngx_http_ngsp_claim_name(ngx_conf_t *cf, ngx_command_t *cmd, ngx_str_t *name)
{
    if (name->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"%V\" takes a claim name such as "
                           "client_id, not an empty string", &cmd->name);
        return NGX_ERROR;
    }

    if (name->data[0] == '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"%V\" takes a claim name such as "
                           "client_id, not a variable: write \"%*s\", "
                           "not \"%V\"", &cmd->name,
                           name->len - 1, name->data + 1, name);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_add_jwt_variables(ngx_conf_t *cf)
{
    return ngx_http_ngsp_add_variables(cf, ngx_http_ngsp_jwt_vars);
}


static ngx_int_t
ngx_http_ngsp_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_handler;

    return ngx_http_ngsp_jwks_init(cf);
}
