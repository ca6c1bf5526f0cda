/*
 * Redis Sentinel for ngsp_redis: each worker asks the sentinels where the
 * master is and listens for +switch-master, all on nginx's event loop.
 */

#ifndef NGX_HTTP_NGSP_REDIS_SENTINEL_H
#define NGX_HTTP_NGSP_REDIS_SENTINEL_H

#include <ngx_config.h>
#include <ngx_core.h>

#include "ngx_http_ngsp_redis.h"


/* init_process: starts listening for +switch-master */
ngx_int_t ngx_http_ngsp_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc);

/* exit_process */
void ngx_http_ngsp_redis_sentinel_exit(void);

/*
 * Asks the sentinels in turn for the master, unless asking already:
 * ngx_http_ngsp_redis_master() hears the answer, or
 * ngx_http_ngsp_redis_no_master() that none came.
 */
void ngx_http_ngsp_redis_sentinel_ask(void);

#endif /* NGX_HTTP_NGSP_REDIS_SENTINEL_H */
