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
    ngx_str_t        name;            /* as written, for logs */
    ngx_str_t        host;            /* numeric address or unix path, NUL */
    int              port;            /* 0: unix socket */
} ngx_http_ngsp_redis_addr_t;


#define NGX_HTTP_NGSP_REDIS_SINGLE    0
#define NGX_HTTP_NGSP_REDIS_SENTINEL  1
#define NGX_HTTP_NGSP_REDIS_CLUSTER   2


typedef struct {
    ngx_str_t        name;            /* as configured, for logs */
    ngx_str_t        host;            /* addrs[0]'s host, NUL */
    int              port;            /* addrs[0]'s port, 0: unix socket */
    ngx_uint_t       mode;            /* NGX_HTTP_NGSP_REDIS_SINGLE... */
    ngx_array_t     *addrs;           /* of _addr_t, at least one */
    ngx_str_t        sentinel_name;   /* the master's name in Sentinel */
    ngx_str_t        sentinel_password;  /* empty: no AUTH to sentinels */
    ngx_str_t        password;        /* empty: no AUTH */
    ngx_int_t        db;              /* 0: no SELECT */
    ngx_msec_t       connect_timeout;
    ngx_msec_t       stall_timeout;   /* replies owed, none heard: reconnect */
    ngx_str_t        preload;         /* a script loaded on every connect */
    ngx_shm_zone_t  *stats;           /* every worker's counters */
} ngx_http_ngsp_redis_conf_t;


/*
 * One hiredis async connection watched by nginx's event loop: the data
 * connection (the worker's, or a cluster node's) and the Sentinel
 * connections share this glue.
 */
typedef struct ngx_http_ngsp_redis_link_s  ngx_http_ngsp_redis_link_t;

typedef void (*ngx_http_ngsp_redis_link_pt)(ngx_http_ngsp_redis_link_t *link);

struct ngx_http_ngsp_redis_link_s {
    redisAsyncContext              *ac;       /* NULL: closed */
    ngx_connection_t               *conn;
    ngx_log_t                      *log;
    void                           *data;     /* the owner's */
    ngx_http_ngsp_redis_link_pt     read;     /* after each read, or NULL */
    ngx_http_ngsp_redis_link_pt     closed;   /* the context is let go */
    unsigned                        flushing:1;
};


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
    ngx_atomic_t   connected;    /* connections up and ready: 0 or 1, or
                                  * one per cluster master */
    ngx_atomic_t   connects;     /* successful connections made */
    ngx_atomic_t   reconnects;   /* connections made after one was lost */
    ngx_atomic_t   timeouts;     /* commands that timed out / stalls */
    ngx_atomic_t   errors;       /* error replies, protocol or I/O errors */
    ngx_atomic_t   commands;     /* replies received */
    ngx_atomic_t   latency[NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS];
                                 /* per bucket, not cumulative */
    ngx_atomic_t   latency_sum_us;
    u_char         address[64];  /* host:port it talks to, NUL-terminated */
    ngx_atomic_t   master_changes;  /* Sentinel: moves to another master */
    u_char         sentinel[64]; /* Sentinel: the one it listens to, NUL */
    ngx_atomic_t   nodes_gen;    /* odd while nodes is being written */
    u_char         nodes[NGX_HTTP_NGSP_REDIS_NODES_LEN];
                                 /* cluster: the masters it holds
                                  * connections to, space-separated */
} ngx_http_ngsp_redis_stats_t;


/*
 * parses "address [address ...] [sentinel=NAME] [sentinel_password=..]
 * [cluster] [password=..] [db=N] [connect_timeout=T] [stall_timeout=T]",
 * an address being host, host:port or unix:/path
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


/*
 * The master a worker's commands go to, once it answers as one: host is
 * NUL-terminated (a path when *port is 0) and stays valid until the next
 * event; in cluster mode, one of the masters it is connected to.
 * NGX_DECLINED: none known now.
 */
ngx_int_t ngx_http_ngsp_redis_current(ngx_str_t *host, int *port);


/* --- for the Cluster side --------------------------------------------- */

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

ngx_int_t ngx_http_ngsp_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc);
void ngx_http_ngsp_redis_cluster_exit(void);
/* a master the worker is connected to (for Lua), NGX_DECLINED: none */
ngx_int_t ngx_http_ngsp_redis_cluster_any(ngx_str_t *host, int *port);
/*
 * a worker's nodes (st->nodes, space-separated) copied whole into buf of
 * NGX_HTTP_NGSP_REDIS_NODES_LEN, NUL-terminated; its length
 */
size_t ngx_http_ngsp_redis_cluster_nodes(ngx_http_ngsp_redis_stats_t *st,
    u_char *buf);
ngx_int_t ngx_http_ngsp_redis_cluster_command(redisCallbackFn *fn,
    ngx_http_ngsp_redis_wanted_pt wanted, void *privdata, unsigned slot,
    const u_char *cmd, size_t len);


/* --- for the Sentinel side -------------------------------------------- */

/* connects (in progress); NGX_ERROR: *err says why, nothing is left open */
ngx_int_t ngx_http_ngsp_redis_link_open(ngx_http_ngsp_redis_link_t *link,
    const char *host, int port, const char **err);

/* the master is at host:port: the data connection goes there */
void ngx_http_ngsp_redis_master(const char *host, int port);

/* no sentinel named a master: ask again after the reconnect backoff */
void ngx_http_ngsp_redis_no_master(void);

/* this worker's slot while it is its own, or NULL */
ngx_http_ngsp_redis_stats_t *ngx_http_ngsp_redis_own_stats(void);

#endif /* NGX_HTTP_NGSP_REDIS_H */
