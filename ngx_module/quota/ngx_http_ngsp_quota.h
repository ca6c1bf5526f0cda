/*
 * ngsp quota glue: configuration and per-request state shared by the
 * access handler, the header filter and the variables.
 */

#ifndef NGX_HTTP_NGSP_QUOTA_H
#define NGX_HTTP_NGSP_QUOTA_H

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngsp_quota.h"
#include "ngx_http_ngsp_redis.h"


typedef enum {
    NGX_HTTP_NGSP_QUOTA_OFF = 0,
    NGX_HTTP_NGSP_QUOTA_ALLOWED,
    NGX_HTTP_NGSP_QUOTA_REJECTED,
    NGX_HTTP_NGSP_QUOTA_ERROR,
    NGX_HTTP_NGSP_QUOTA_DRY_RUN
} ngx_http_ngsp_quota_status_e;


typedef struct ngx_http_ngsp_quota_shm_s  ngx_http_ngsp_quota_shm_t;

typedef struct {
    ngx_http_ngsp_redis_conf_t   redis;       /* redis.name.len 0: none */
    ngx_array_t                 *policies;    /* ngsp_quota_policy_t */
    ngx_int_t                    tz;          /* seconds east of UTC */
    ngx_uint_t                   used;        /* a location counts */
    char                         sha1[41];
    ngx_http_ngsp_quota_shm_t   *sh;          /* NULL: no quota used */
} ngx_http_ngsp_quota_main_conf_t;


typedef struct {
    ngx_str_t                    name;        /* "off" or a policy */
    ngsp_quota_policy_t         *policy;      /* NULL: off */
    ngx_http_complex_value_t    *key;         /* NULL: $ngsp_agency */
    ngx_str_t                    file;        /* where ngsp_quota was */
    ngx_uint_t                   line;
    ngx_uint_t                   fail_open;
    ngx_flag_t                   dry_run;
    ngx_int_t                    status;
    ngx_msec_t                   timeout;
    ngx_uint_t                   log_level;
} ngx_http_ngsp_quota_loc_conf_t;


typedef struct ngx_http_ngsp_quota_pending_s  ngx_http_ngsp_quota_pending_t;

typedef struct {
    ngx_http_request_t              *request;
    ngsp_quota_policy_t             *policy;
    ngx_str_t                        key;       /* in the request's pool */
    ngx_http_ngsp_quota_pending_t   *pending;   /* NULL: not waiting */
    ngx_event_t                      timer;
    ngx_event_t                      resume;
    ngx_array_t                     *waiters;   /* subrequests that wait */
    ngsp_quota_decision_t            decision;
    ngx_http_ngsp_quota_status_e     status;
    ngx_int_t                        rc;        /* the handler's answer */
    unsigned                         waiting:1;
    unsigned                         decided:1; /* decision is valid */
    unsigned                         answered:1; /* rc given to nginx */
    unsigned                         configured:1; /* key= gave the key */
} ngx_http_ngsp_quota_ctx_t;


extern ngx_module_t  ngx_http_ngsp_quota_module;


/* the access-phase handler: after every other access check */
ngx_int_t ngx_http_ngsp_quota_handler(ngx_http_request_t *r);

/*
 * a subrequest's check, in its rewrite phase: NGX_DECLINED to go on,
 * NGX_DONE to wait for Redis, or the refusal's status
 */
ngx_int_t ngx_http_ngsp_quota_subrequest(ngx_http_request_t *r);

/* the request's state, also after an internal redirect; NULL if none */
ngx_http_ngsp_quota_ctx_t *ngx_http_ngsp_quota_get_ctx(ngx_http_request_t *r);

/* the zone of ignored overrides: counted, logged once a minute */
ngx_int_t ngx_http_ngsp_quota_zone_add(ngx_conf_t *cf,
    ngx_http_ngsp_quota_main_conf_t *mcf);
/* counts and logs the overrides the script ignored for this decision */
void ngx_http_ngsp_quota_ignored(ngx_http_request_t *r,
    ngx_http_ngsp_quota_ctx_t *ctx);
/*
 * invalid override values met by the script, every worker, since nginx
 * started (reloads included); 0 when no location has a quota
 */
uint64_t ngx_http_ngsp_quota_overrides_invalid(ngx_cycle_t *cycle);

ngx_int_t ngx_http_ngsp_quota_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_ngsp_quota_header_init(ngx_conf_t *cf);

#endif /* NGX_HTTP_NGSP_QUOTA_H */
