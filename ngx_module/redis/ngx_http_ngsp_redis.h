/*
 * hiredis's async API on nginx's event loop: one connection per worker,
 * shared (pipelined) by every request of the worker.
 */

#ifndef NGX_HTTP_NGSP_REDIS_H
#define NGX_HTTP_NGSP_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct {
    ngx_str_t      name;            /* as configured, for logs */
    ngx_str_t      host;            /* numeric address or unix path, NUL */
    int            port;            /* 0: unix socket */
    ngx_str_t      password;        /* empty: no AUTH */
    ngx_int_t      db;              /* 0: no SELECT */
    ngx_msec_t     connect_timeout;
    ngx_msec_t     stall_timeout;   /* replies owed, none heard: reconnect */
    ngx_str_t      preload;         /* a script loaded on every connect */
} ngx_http_ngsp_redis_conf_t;


/*
 * parses "host:port|unix:/path [password=..] [db=N] [connect_timeout=T]
 * [stall_timeout=T]"
 */
char *ngx_http_ngsp_redis_parse(ngx_conf_t *cf,
    ngx_http_ngsp_redis_conf_t *rc);

/* init_process / exit_process */
ngx_int_t ngx_http_ngsp_redis_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc);
void ngx_http_ngsp_redis_exit(void);

/* true while the worker tears its connection down: replies are not news */
ngx_uint_t ngx_http_ngsp_redis_exiting(void);

/*
 * Queues a command.  NGX_OK: fn will be called exactly once, with a NULL
 * reply if the connection fails first.  NGX_DECLINED: no connection now
 * (fn is never called).
 */
/* a command already in Redis's protocol (hiredis copies it) */
ngx_int_t ngx_http_ngsp_redis_command(redisCallbackFn *fn, void *privdata,
    const u_char *cmd, size_t len);

#endif /* NGX_HTTP_NGSP_REDIS_H */
