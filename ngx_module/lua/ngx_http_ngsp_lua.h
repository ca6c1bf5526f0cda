/*
 * ngsp's surface for LuaJIT's FFI (lua-compat/resty/ngsp.lua): plain C
 * functions, all named ngsp_lua_*, that take the request lua-resty-core
 * holds, caller-provided buffers and lengths, and return codes.  nginx
 * loads dynamic modules with RTLD_GLOBAL, so ffi.C finds them.
 *
 * The ABI is versioned: a change of any declaration below raises
 * NGSP_LUA_ABI, and the Lua side refuses a module of another version.
 * Lua's ffi.cdef in resty/ngsp.lua repeats these declarations.
 */

#ifndef NGX_HTTP_NGSP_LUA_H
#define NGX_HTTP_NGSP_LUA_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>


#define NGSP_LUA_ABI        2

#define NGSP_LUA_OK         0
#define NGSP_LUA_ERROR     -1   /* a bad argument, or out of memory */
#define NGSP_LUA_DECLINED  -2   /* nothing to give: see the function */
#define NGSP_LUA_AGAIN     -3   /* the buffer is too small: *len needed */


typedef struct {
    const u_char               *data;
    size_t                      len;
} ngsp_lua_str_t;


/* absent lists are no check; the rules read as ngsp_jwt_require's words */
typedef struct {
    const ngsp_lua_str_t       *issuers;
    size_t                      nissuers;
    const ngsp_lua_str_t       *audiences;
    size_t                      naudiences;
    const ngsp_lua_str_t       *requires;   /* "claim op value ..." */
    size_t                      nrequires;
    long                        leeway;     /* seconds */
} ngsp_lua_verify_opts_t;


typedef struct ngsp_lua_key_s  ngsp_lua_key_t;


typedef struct {
    const u_char               *host;       /* "unix:/path" for a socket */
    size_t                      host_len;   /* 0: Sentinel names no master
                                               to this worker now */
    int                         port;
    const u_char               *password;
    size_t                      password_len;
    int                         db;
    int                         timeout;    /* ms: ngsp_redis_timeout */
    int                         fail_open;  /* ngsp_quota_fail open */
} ngsp_lua_redis_t;


typedef struct {
    const char                 *unit;       /* "s", "m", "h", "d", "mo" */
    int64_t                     limit;
    int64_t                     remaining;
    int64_t                     reset;
    int64_t                     width;
} ngsp_lua_quota_window_t;


typedef struct {
    int                         allowed;
    int                         nwindows;
    int                         tightest;
    int64_t                     retry_after;
    ngsp_lua_quota_window_t     windows[5];
} ngsp_lua_quota_decision_t;


int ngsp_lua_abi_version(void);

/* "ok", "missing", ... as $ngsp_jwt_status; NULL when out of range */
const char *ngsp_lua_jwt_status_name(int status);

/* the current request under the current location, as the variables */
int ngsp_lua_jwt_status(ngx_http_request_t *r);
int ngsp_lua_jwt_agency(ngx_http_request_t *r, u_char *buf, size_t size,
    size_t *len);
int ngsp_lua_jwt_claims(ngx_http_request_t *r, u_char *buf, size_t size,
    size_t *len);
int ngsp_lua_jwt_claim(ngx_http_request_t *r, const u_char *name,
    size_t name_len, u_char *buf, size_t size, size_t *len);

/* any token, against the configured key set and cache */
int ngsp_lua_jwt_verify(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, u_char *buf,
    size_t size, size_t *len, int *status, u_char *err, size_t err_size);

/* the same judgement, without the claims: for a caller that holds them */
int ngsp_lua_jwt_check(ngx_http_request_t *r, const u_char *token,
    size_t token_len, const ngsp_lua_verify_opts_t *opts, int *status,
    u_char *err, size_t err_size);

/* a caller's key (lua-resty-jwt's "secret"), for resty.ngsp.compat.jwt */
ngsp_lua_key_t *ngsp_lua_key_new(const u_char *data, size_t len, int hmac,
    u_char *err, size_t err_size);
void ngsp_lua_key_free(ngsp_lua_key_t *key);
int ngsp_lua_key_verify(ngsp_lua_key_t *key, const u_char *token,
    size_t token_len, long leeway, int *status);

/* mask a body with a configured profile */
int ngsp_lua_mask(ngx_http_request_t *r, const u_char *profile,
    size_t profile_len, const u_char *body, size_t body_len,
    const u_char *ctype, size_t ctype_len, u_char *buf, size_t size,
    size_t *len, u_char *err, size_t err_size);

/* one quota decision: the command, sent by Lua, and its reply */
int ngsp_lua_quota_redis(ngx_http_request_t *r, ngsp_lua_redis_t *out);
int ngsp_lua_quota_command(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, const u_char *key, size_t key_len, int eval,
    u_char *buf, size_t size, size_t *len);
int ngsp_lua_quota_reply(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, const u_char *reply, size_t reply_len,
    ngsp_lua_quota_decision_t *d);

/*
 * a decision made from Lua, counted in ngsp_status_zone under the
 * request's verified agency: outcome 0 allowed, 1 rejected, 2 error;
 * d, from ngsp_lua_quota_reply, NULL for an error; NGSP_LUA_DECLINED:
 * no zone counts
 */
int ngsp_lua_status_quota(ngx_http_request_t *r, const u_char *policy,
    size_t policy_len, int outcome, const ngsp_lua_quota_decision_t *d);

#endif /* NGX_HTTP_NGSP_LUA_H */
