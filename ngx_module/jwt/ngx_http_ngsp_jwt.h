/*
 * ngsp JWT glue: configuration and per-request state shared by the access
 * handler, the verification cache and the variables.
 */

#ifndef NGX_HTTP_NGSP_JWT_H
#define NGX_HTTP_NGSP_JWT_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_jwt.h"


typedef struct {
    ngsp_jwt_keyset_t         *keyset;      /* the set verified with */
    ngsp_jwt_keyset_t         *file_keyset; /* the files' keys */
    ngx_shm_zone_t            *cache;       /* NULL: no cache */
    size_t                     cache_size;  /* 0: off */
    time_t                     cache_valid; /* cap for tokens without exp */

    /* ngsp_jwt_key_request */
    ngx_str_t                  jwks_uri;     /* empty: none */
    ngx_str_t                  jwks_source;  /* "jwks:<uri>", NUL-ended */
    time_t                     jwks_valid;
    time_t                     jwks_stale;
    time_t                     jwks_unknown;
    ngx_shm_zone_t            *jwks_zone;
} ngx_http_ngsp_main_conf_t;


typedef struct {
    ngx_flag_t                 enable;
    ngx_str_t                  enable_file;    /* where ngsp_jwt was set */
    ngx_uint_t                 enable_line;
    ngx_str_t                  realm;
    ngx_array_t               *issuers;        /* NULL-terminated char * */
    ngx_array_t               *audiences;      /* NULL-terminated char * */
    time_t                     leeway;
    ngx_array_t               *requires;       /* ngsp_jwt_req_t */
    ngx_array_t               *agency_claims;  /* ngx_str_t */
    ngx_http_complex_value_t  *token;          /* NULL: Authorization */
    ngx_uint_t                 log_level;

    /* WWW-Authenticate values, built when merged */
    ngx_str_t                  challenge;
    ngx_str_t                  challenge_invalid;
    ngx_str_t                  challenge_scope;
} ngx_http_ngsp_loc_conf_t;


/*
 * The request's token as judged under one location's settings.  The
 * result holds only for the settings and token it was made with: read
 * under others (a variable read at server level, then another location)
 * it is judged again, reusing the parse and signature check when the
 * token is the same.
 */
typedef struct {
    ngsp_jwt_status_t          status;
    ngsp_jwt_t                 jwt;
    ngx_str_t                  agency;

    ngx_http_request_t        *request;     /* owner, found again after an
                                               internal redirect */
    ngx_http_ngsp_loc_conf_t  *conf;        /* NULL: not judged yet */
    ngx_str_t                  token;       /* empty: none was found */
    ngsp_jwt_status_t          verified;    /* parse and signature */
    ngx_uint_t                 keys;        /* the key set's change it
                                               was verified after */
    ngx_uint_t                 jwks;        /* NGX_HTTP_NGSP_JWKS_* */
} ngx_http_ngsp_jwt_ctx_t;


#define NGX_HTTP_NGSP_JWKS_IDLE      0
#define NGX_HTTP_NGSP_JWKS_FETCHING  1      /* waits for its fetch */
#define NGX_HTTP_NGSP_JWKS_FETCHED   2      /* one fetch per request */


extern ngx_module_t  ngx_http_ngsp_module;


/*
 * the access handler: NGX_DECLINED (off), NGX_OK, or the refusal's status
 * with its WWW-Authenticate; subrequests call it in their rewrite phase
 */
ngx_int_t ngx_http_ngsp_handler(ngx_http_request_t *r);

/* the token judged under the current location's settings; NULL on error */
ngx_http_ngsp_jwt_ctx_t *ngx_http_ngsp_jwt_eval(ngx_http_request_t *r);

/*
 * the request's state as it is, also after an internal redirect; NULL if
 * its token was never judged (ctx->conf NULL: not yet)
 */
ngx_http_ngsp_jwt_ctx_t *ngx_http_ngsp_jwt_get_ctx(ngx_http_request_t *r);

/*
 * any token parsed and verified against the key set, through the memo and
 * the shared cache; jwt is to be freed with ngsp_jwt_free()
 */
ngsp_jwt_status_t ngx_http_ngsp_jwt_check_token(ngx_http_request_t *r,
    ngx_str_t *token, ngsp_jwt_t *jwt);

/* the memo's parse of a token it holds, or NULL; borrowed, not freed */
const ngsp_jwt_t *ngx_http_ngsp_jwt_peek_token(ngx_http_request_t *r,
    ngx_str_t *token);

/* an ngsp_jwt_require rule from its words; NGX_ERROR with why in err */
ngx_int_t ngx_http_ngsp_jwt_require_parse(ngx_pool_t *pool, ngx_str_t *value,
    ngx_uint_t nelts, ngsp_jwt_req_t *req, ngx_str_t *err);

/* shared verification cache */
char *ngx_http_ngsp_jwt_cache_init_conf(ngx_conf_t *cf,
    ngx_http_ngsp_main_conf_t *mcf);
ngx_int_t ngx_http_ngsp_jwt_cache_lookup(ngx_shm_zone_t *zone,
    u_char *digest);
void ngx_http_ngsp_jwt_cache_insert(ngx_shm_zone_t *zone, u_char *digest,
    time_t expire);

/* since the zone was made: a reload keeps them, as it keeps the entries */
typedef struct {
    uint64_t  hits, misses, entries;
} ngx_http_ngsp_jwt_cache_stats_t;

/* NGX_OK, or NGX_DECLINED when there is no cache */
ngx_int_t ngx_http_ngsp_jwt_cache_stats(ngx_cycle_t *cycle,
    ngx_http_ngsp_jwt_cache_stats_t *st);

/* this worker's state (memo, digests): made at start, freed at exit */
ngx_int_t ngx_http_ngsp_jwt_init_worker(ngx_cycle_t *cycle,
    ngx_http_ngsp_main_conf_t *mcf);
void ngx_http_ngsp_jwt_exit_worker(void);

/* the memo forgets every token: the key set changed */
void ngx_http_ngsp_jwt_keys_changed(void);

/* keys fetched with ngsp_jwt_key_request */
typedef struct {
    ngx_str_t     location;
    time_t        fetched;          /* 0: never */
    uint64_t      generation;
    const char   *last_result;
    ngx_str_t     last_error;
} ngx_http_ngsp_jwks_info_t;

char *ngx_http_ngsp_jwks_conf(ngx_conf_t *cf, ngx_http_ngsp_main_conf_t *mcf);
ngx_int_t ngx_http_ngsp_jwks_init(ngx_conf_t *cf);
/* 1 when this worker's set changed */
ngx_uint_t ngx_http_ngsp_jwks_sync(ngx_http_ngsp_main_conf_t *mcf,
    ngx_log_t *log);
ngx_uint_t ngx_http_ngsp_jwks_usable(void);
ngx_int_t ngx_http_ngsp_jwks_before(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf, ngx_http_ngsp_jwt_ctx_t *ctx);
ngx_int_t ngx_http_ngsp_jwks_after(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf, ngx_http_ngsp_jwt_ctx_t *ctx);
ngx_uint_t ngx_http_ngsp_jwks_is_fetch(ngx_http_request_t *r);
/* NGX_DECLINED without ngsp_jwt_key_request */
ngx_int_t ngx_http_ngsp_jwks_info(ngx_http_request_t *r,
    ngx_http_ngsp_jwks_info_t *info);
void ngx_http_ngsp_jwks_exit_worker(ngx_http_ngsp_main_conf_t *mcf);

/* $ngsp_agency, $ngsp_jwt_status, $ngsp_jwt_claim_*, $ngsp_jwt_header_* */
extern ngx_http_variable_t  ngx_http_ngsp_jwt_vars[];

#endif /* NGX_HTTP_NGSP_JWT_H */
