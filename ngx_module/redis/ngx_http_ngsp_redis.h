/*
 * hiredis's async API on nginx's event loop: one connection per worker,
 * shared (pipelined) by every request of the worker; on a Redis Cluster,
 * one such connection per master (ngx_http_ngsp_redis_cluster.c).
 */

#ifndef NGX_HTTP_NGSP_REDIS_H
#define NGX_HTTP_NGSP_REDIS_H

#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct {
    ngx_str_t   name;     /* as written, for logs */
    ngx_str_t   host;     /* numeric address or unix path, NUL-terminated */
    int         port;     /* 0: unix socket */
} ngx_http_ngsp_redis_addr_t;


#define NGX_HTTP_NGSP_REDIS_SINGLE    0
#define NGX_HTTP_NGSP_REDIS_SENTINEL  1
#define NGX_HTTP_NGSP_REDIS_CLUSTER   2


typedef struct {
    ngx_str_t        name;            /* as configured, for logs */
    ngx_str_t        host;            /* numeric address or unix path, NUL */
    int              port;            /* 0: unix socket */
    ngx_uint_t       mode;            /* NGX_HTTP_NGSP_REDIS_SINGLE, ... */
    ngx_array_t     *addrs;           /* of _addr_t; addrs[0] is host:port */
    ngx_str_t        sentinel_name;
    ngx_str_t        sentinel_password;
    ngx_str_t        password;        /* empty: no AUTH */
    ngx_int_t        db;              /* 0: no SELECT */
    ngx_msec_t       connect_timeout;
    ngx_msec_t       stall_timeout;   /* replies owed, none heard: reconnect */
    ngx_str_t        preload;         /* a script loaded on every connect */
    ngx_shm_zone_t  *stats;           /* every worker's counters */
} ngx_http_ngsp_redis_conf_t;


#define NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS  12
#define NGX_HTTP_NGSP_REDIS_NODES_LEN        448

/*
 * upper bounds in microseconds of each latency bucket but the last (+Inf):
 * 250 500 1000 2500 5000 10000 25000 50000 100000 250000 1000000
 */
extern const ngx_msec_int_t  ngx_http_ngsp_redis_latency_bounds_us[
    NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS - 1];

/*
 * One worker's counters in shared memory, written by that worker only.
 * They start from zero with each new worker process (after a reload or a
 * crash): Prometheus's rate() takes a counter that goes back to zero as a
 * reset.  Commands are the requests' own; the connection's setup (AUTH,
 * SELECT, SCRIPT LOAD) counts only among errors when refused.
 */
typedef struct {
    ngx_atomic_t   pid;          /* 0: slot unused */
    ngx_atomic_t   connected;    /* 1 while a connection is up and ready */
    ngx_atomic_t   connects;     /* successful connections made */
    ngx_atomic_t   reconnects;   /* connections made after one was lost */
    ngx_atomic_t   timeouts;     /* commands that timed out / stalls */
    ngx_atomic_t   errors;       /* error replies, protocol or I/O errors */
    ngx_atomic_t   commands;     /* replies received */
    ngx_atomic_t   latency[NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS];
                                 /* per bucket, not cumulative */
    ngx_atomic_t   latency_sum_us;
    u_char         address[64];  /* host:port it talks to, NUL-terminated */
    ngx_atomic_t   nodes_gen;    /* odd while nodes is being written */
    u_char         nodes[NGX_HTTP_NGSP_REDIS_NODES_LEN];
                                 /* cluster: the masters it holds
                                  * connections to, space-separated */
} ngx_http_ngsp_redis_stats_t;


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

/*
 * every worker's slot, indexed by ngx_worker (n = worker_processes); NULL,
 * n 0 when no ngsp_redis is configured
 */
ngx_http_ngsp_redis_stats_t *ngx_http_ngsp_redis_stats(ngx_cycle_t *cycle,
    ngx_uint_t *n);

/* a caller's command timed out waiting for its reply */
void ngx_http_ngsp_redis_timed_out(void);

/* true while the worker tears its connection down: replies are not news */
ngx_uint_t ngx_http_ngsp_redis_exiting(void);

/* one connection: the worker's own, or one of a cluster's nodes */
typedef struct ngx_http_ngsp_redis_s  ngx_http_ngsp_redis_t;

/*
 * Queues a command.  NGX_OK: fn will be called exactly once, with a NULL
 * reply if the connection fails first.  NGX_DECLINED: no connection now
 * (fn is never called).
 */
/* a command already in Redis's protocol (hiredis copies it) */
ngx_int_t ngx_http_ngsp_redis_command(redisCallbackFn *fn, void *privdata,
    const u_char *cmd, size_t len);

/* whether the caller still waits for the reply of its command */
typedef ngx_uint_t (*ngx_http_ngsp_redis_wanted_pt)(void *privdata);

/*
 * The command for the keys of a slot: to the cluster node serving it, or
 * on the one connection outside cluster mode.  Same contract.  A MOVED or
 * ASK is followed only while wanted (NULL: always) says the caller waits:
 * a command given up on is not run again elsewhere.
 */
ngx_int_t ngx_http_ngsp_redis_command_slot(redisCallbackFn *fn,
    ngx_http_ngsp_redis_wanted_pt wanted, void *privdata, unsigned slot,
    const u_char *cmd, size_t len);


/* for the cluster's nodes (ngx_http_ngsp_redis_cluster.c) */

/* a connection to rc's host:port, connecting at once; NULL: no memory */
ngx_http_ngsp_redis_t *ngx_http_ngsp_redis_open(
    ngx_http_ngsp_redis_conf_t *rc, ngx_log_t *log);
/* fails its pending commands, and frees it */
void ngx_http_ngsp_redis_close(ngx_http_ngsp_redis_t *rd);
/* ngx_http_ngsp_redis_command on that connection */
ngx_int_t ngx_http_ngsp_redis_send(ngx_http_ngsp_redis_t *rd,
    redisCallbackFn *fn, void *privdata, const u_char *cmd, size_t len);
/* connected, authenticated and the script loaded */
ngx_uint_t ngx_http_ngsp_redis_ready_now(ngx_http_ngsp_redis_t *rd);
/* replies owed on it */
ngx_uint_t ngx_http_ngsp_redis_busy(ngx_http_ngsp_redis_t *rd);
/* the worker's own connection's stats slot, NULL: not counted */
ngx_http_ngsp_redis_stats_t *ngx_http_ngsp_redis_worker_stats(void);

ngx_int_t ngx_http_ngsp_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc);
void ngx_http_ngsp_redis_cluster_exit(void);
/*
 * a worker's nodes (st->nodes, space-separated) copied whole into buf of
 * NGX_HTTP_NGSP_REDIS_NODES_LEN, NUL-terminated; its length
 */
/* a master the worker is connected to (for Lua), NGX_DECLINED: none */
ngx_int_t ngx_http_ngsp_redis_cluster_any(ngx_str_t *host, int *port);
size_t ngx_http_ngsp_redis_cluster_nodes(ngx_http_ngsp_redis_stats_t *st,
    u_char *buf);
ngx_int_t ngx_http_ngsp_redis_cluster_command(redisCallbackFn *fn,
    ngx_http_ngsp_redis_wanted_pt wanted, void *privdata, unsigned slot,
    const u_char *cmd, size_t len);

#endif /* NGX_HTTP_NGSP_REDIS_H */
