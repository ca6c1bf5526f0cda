/*
 * hiredis async on nginx's event loop.
 *
 * hiredis owns the socket (it connects, reads, writes and closes it); an
 * ngx_connection_t around the same fd gives nginx's event module something
 * to watch.  Events are level-triggered: hiredis reads at most 16 KB per
 * call and never reports EAGAIN, so an edge could be lost.  Commands queued
 * during one pass of the event loop leave in one write at its end: a
 * worker pipelines every request's command on its one connection.
 *
 * hiredis has no timeouts: the connect has an nginx timer here, commands
 * have theirs in their caller.  A lost connection fails every pending
 * command at once (hiredis calls each back with a NULL reply), then the
 * worker reconnects with backoff and authenticates again.
 *
 * A peer that stops answering without closing (a failed-over address, a
 * firewall dropping the flow, a hung Redis) would otherwise hold the
 * connection for as long as TCP retransmits, each request waiting out its
 * timeout: replies owed and nothing heard for stall_timeout drop the
 * connection, and the worker connects again.
 *
 * Each worker counts its connection's life and its commands' latency in
 * its own slot of a shared zone (ngx_worker indexes it), written by that
 * worker alone, so the status handler of any worker reads them all.
 *
 * A connection is an instance: the worker's own, or, in cluster mode, one
 * per master (ngx_http_ngsp_redis_cluster.c opens and closes them); all of
 * a worker's count in its one slot.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <ngx_http.h>

#include "ngx_http_ngsp_redis.h"


#define NGX_HTTP_NGSP_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_NGSP_REDIS_BACKOFF_MAX  2000
#define NGX_HTTP_NGSP_REDIS_STALL        5000

/*
 * worker_processes may come after the http block, so the zone cannot be
 * sized by it: it holds as many slots as nginx can have processes, and
 * only the pages of the slots in use are ever touched
 */
#define NGX_HTTP_NGSP_REDIS_SLOTS        NGX_MAX_PROCESSES


typedef struct ngx_http_ngsp_redis_cmd_s  ngx_http_ngsp_redis_cmd_t;

/* a command on its way: whom to call back, and since when it waits */
struct ngx_http_ngsp_redis_cmd_s {
    redisCallbackFn              *fn;
    void                         *privdata;
    uint64_t                      sent;         /* monotonic microseconds */
    ngx_http_ngsp_redis_cmd_t    *next;         /* in the free list */
};


struct ngx_http_ngsp_redis_s {
    ngx_http_ngsp_redis_conf_t   *conf;
    redisAsyncContext            *ac;
    ngx_connection_t             *conn;
    ngx_log_t                    *log;
    ngx_event_t                   connect_timer;
    ngx_event_t                   reconnect;
    ngx_event_t                   stall;
    ngx_msec_t                    backoff;
    ngx_http_ngsp_redis_stats_t  *stats;        /* NULL: not counted */
    ngx_http_ngsp_redis_cmd_t    *free;
    ngx_uint_t                    setup;        /* setup replies owed */
    unsigned                      exiting:1;
    unsigned                      lost_logged:1;
    unsigned                      flushing:1;
    unsigned                      was_ready:1;  /* a connection was up */
    unsigned                      ready:1;      /* counted as connected */
};


static char *ngx_http_ngsp_redis_parse_addr(ngx_conf_t *cf,
    ngx_str_t *value, ngx_http_ngsp_redis_addr_t *a);
static char *ngx_http_ngsp_redis_parse_msec(ngx_conf_t *cf, ngx_str_t *value,
    ngx_msec_t *ms);
static void ngx_http_ngsp_redis_prepare(ngx_http_ngsp_redis_t *rd,
    ngx_http_ngsp_redis_conf_t *rc, ngx_log_t *log);
static void ngx_http_ngsp_redis_release(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_connect(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_setup(ngx_http_ngsp_redis_t *rd,
    const char *what, int argc, const char **argv, const size_t *len);
static void ngx_http_ngsp_redis_read_handler(ngx_event_t *ev);
static void ngx_http_ngsp_redis_write_handler(ngx_event_t *ev);
static void ngx_http_ngsp_redis_ev(ngx_http_ngsp_redis_t *rd, ngx_uint_t write,
    ngx_uint_t add);
static void ngx_http_ngsp_redis_add_read(void *privdata);
static void ngx_http_ngsp_redis_del_read(void *privdata);
static void ngx_http_ngsp_redis_add_write(void *privdata);
static void ngx_http_ngsp_redis_del_write(void *privdata);
static void ngx_http_ngsp_redis_schedule(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_cleanup(void *privdata);
static void ngx_http_ngsp_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ngsp_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ngsp_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_ngsp_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ngsp_redis_stalled(ngx_event_t *ev);
static void ngx_http_ngsp_redis_reconnect(ngx_event_t *ev);
static ngx_int_t ngx_http_ngsp_redis_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_ngsp_redis_claim_slot(ngx_http_ngsp_redis_t *rd);
static ngx_http_ngsp_redis_stats_t *ngx_http_ngsp_redis_slot(
    ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_ready(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static uint64_t ngx_http_ngsp_redis_now_us(void);


#define ngx_http_ngsp_redis_count(rd, field)                                  \
    do {                                                                      \
        ngx_http_ngsp_redis_stats_t  *st_ = ngx_http_ngsp_redis_slot(rd);     \
                                                                              \
        if (st_) {                                                            \
            (void) ngx_atomic_fetch_add(&st_->field, 1);                      \
        }                                                                     \
    } while (0)


const ngx_msec_int_t  ngx_http_ngsp_redis_latency_bounds_us[
    NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS - 1] =
{
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000
};


/* the zone's owner: the module of the ngsp_redis directive */
extern ngx_module_t  ngx_http_ngsp_quota_module;

static ngx_str_t  ngx_http_ngsp_redis_zone_name =
    ngx_string("ngsp_redis_stats");


/*
 * the worker's connection: made in init_process, freed in exit_process;
 * in cluster mode it connects nowhere, and holds the worker's slot
 */
static ngx_http_ngsp_redis_t  ngx_http_ngsp_redis;


/* --- interface --------------------------------------------------------- */


char *
ngx_http_ngsp_redis_parse(ngx_conf_t *cf, ngx_http_ngsp_redis_conf_t *rc)
{
    size_t                       size;
    ngx_str_t                   *value;
    ngx_int_t                    n;
    ngx_uint_t                   i, db;
    ngx_msec_t                  *ms;
    ngx_http_ngsp_redis_addr_t  *a;

    value = cf->args->elts;
    db = 0;

    rc->connect_timeout = 1000;
    rc->stall_timeout = NGX_HTTP_NGSP_REDIS_STALL;
    rc->mode = NGX_HTTP_NGSP_REDIS_SINGLE;

    rc->addrs = ngx_array_create(cf->pool, 3,
                                 sizeof(ngx_http_ngsp_redis_addr_t));
    if (rc->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            if (value[i].len == 9) {
                /* an unset environment variable in a template, often */
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ngsp: empty \"password=\" (give the "
                                   "password, or leave the parameter out)");
                return NGX_CONF_ERROR;
            }

            rc->password.data = value[i].data + 9;
            rc->password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ngsp: invalid \"%V\" (db=N, with N "
                                   "from 0 to 65535)", &value[i]);
                return NGX_CONF_ERROR;
            }
            rc->db = n;
            db = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0
            || ngx_strncmp(value[i].data, "stall_timeout=", 14) == 0)
        {
            ms = (value[i].data[0] == 'c') ? &rc->connect_timeout
                                           : &rc->stall_timeout;

            if (ngx_http_ngsp_redis_parse_msec(cf, &value[i], ms)
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (value[i].len == 7
            && ngx_strncmp(value[i].data, "cluster", 7) == 0)
        {
            rc->mode = NGX_HTTP_NGSP_REDIS_CLUSTER;
            continue;
        }

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid parameter \"%V\" (ngsp_redis "
                               "takes password=, db=, connect_timeout= and "
                               "stall_timeout=)", &value[i]);
            return NGX_CONF_ERROR;
        }

        a = ngx_array_push(rc->addrs);
        if (a == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_http_ngsp_redis_parse_addr(cf, &value[i], a) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (rc->addrs->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: ngsp_redis needs an address (host, "
                           "host:port or unix:/path)");
        return NGX_CONF_ERROR;
    }

    if (rc->addrs->nelts > 1 && rc->mode == NGX_HTTP_NGSP_REDIS_SINGLE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: several redis addresses need a mode (add "
                           "\"cluster\" for the seed nodes of a Redis "
                           "Cluster, or \"sentinel=NAME\"), or give one");
        return NGX_CONF_ERROR;
    }

    if (rc->mode == NGX_HTTP_NGSP_REDIS_CLUSTER && db) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"db=\" with \"cluster\" (a Redis "
                           "Cluster has only db 0: leave db= out)");
        return NGX_CONF_ERROR;
    }

    a = rc->addrs->elts;

    rc->name = a[0].name;
    rc->host = a[0].host;
    rc->port = a[0].port;

    size = ngx_align(NGX_HTTP_NGSP_REDIS_SLOTS
                     * sizeof(ngx_http_ngsp_redis_stats_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    rc->stats = ngx_shared_memory_add(cf, &ngx_http_ngsp_redis_zone_name,
                                      size, &ngx_http_ngsp_quota_module);
    if (rc->stats == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->stats->init = ngx_http_ngsp_redis_init_zone;

    return NGX_CONF_OK;
}


/* resolved now, in the master: a worker never waits on DNS */
static char *
ngx_http_ngsp_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *value,
    ngx_http_ngsp_redis_addr_t *a)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;
    u_char      text[NGX_SOCKADDR_STRLEN];

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *value;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid redis address \"%V\"%s%s (host, "
                           "host:port or unix:/path)",
                           value, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    a->name = *value;

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u.family == AF_UNIX) {
        p = (u_char *) ((struct sockaddr_un *) u.addrs[0].sockaddr)->sun_path;
        len = ngx_strlen(p);
        a->port = 0;

    } else
#endif
    {
        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);
        p = text;
        a->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    a->host.data = ngx_pnalloc(cf->pool, len + 1);
    if (a->host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(a->host.data, p, len);
    a->host.data[len] = '\0';
    a->host.len = len;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ngsp_redis_init(ngx_cycle_t *cycle, ngx_http_ngsp_redis_conf_t *rc)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    ngx_http_ngsp_redis_prepare(rd, rc, cycle->log);

    ngx_http_ngsp_redis_claim_slot(rd);

    /* the nodes' connections count in this worker's slot */
    if (rc->mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
        return ngx_http_ngsp_redis_cluster_init(cycle, rc);
    }

    ngx_http_ngsp_redis_connect(rd);

    return NGX_OK;
}


static void
ngx_http_ngsp_redis_prepare(ngx_http_ngsp_redis_t *rd,
    ngx_http_ngsp_redis_conf_t *rc, ngx_log_t *log)
{
    ngx_memzero(rd, sizeof(ngx_http_ngsp_redis_t));

    rd->conf = rc;
    rd->log = log;

    rd->connect_timer.handler = ngx_http_ngsp_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = log;
    rd->connect_timer.cancelable = 1;

    rd->reconnect.handler = ngx_http_ngsp_redis_reconnect;
    rd->reconnect.data = rd;
    rd->reconnect.log = log;
    rd->reconnect.cancelable = 1;

    rd->stall.handler = ngx_http_ngsp_redis_stalled;
    rd->stall.data = rd;
    rd->stall.log = log;
    rd->stall.cancelable = 1;
}


void
ngx_http_ngsp_redis_exit(void)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0, "ngsp redis exit");

    /* first: the replies the nodes' connections fail are not news */
    rd->exiting = 1;

    if (rd->conf && rd->conf->mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
        ngx_http_ngsp_redis_cluster_exit();
    }

    ngx_http_ngsp_redis_release(rd);

    /* unless a worker of a newer generation has it already */
    if (ngx_http_ngsp_redis_slot(rd)) {
        rd->stats->pid = 0;
    }
}


ngx_http_ngsp_redis_t *
ngx_http_ngsp_redis_open(ngx_http_ngsp_redis_conf_t *rc, ngx_log_t *log)
{
    ngx_http_ngsp_redis_t  *rd;

    rd = ngx_alloc(sizeof(ngx_http_ngsp_redis_t), log);
    if (rd == NULL) {
        return NULL;
    }

    ngx_http_ngsp_redis_prepare(rd, rc, log);

    rd->stats = ngx_http_ngsp_redis.stats;

    ngx_http_ngsp_redis_connect(rd);

    return rd;
}


/* never from one of its own connection's callbacks */
void
ngx_http_ngsp_redis_close(ngx_http_ngsp_redis_t *rd)
{
    rd->exiting = 1;

    ngx_http_ngsp_redis_release(rd);

    ngx_free(rd);
}


static void
ngx_http_ngsp_redis_release(ngx_http_ngsp_redis_t *rd)
{
    ngx_http_ngsp_redis_cmd_t  *cmd;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }

    while (rd->free) {
        cmd = rd->free;
        rd->free = cmd->next;
        ngx_free(cmd);
    }
}


ngx_uint_t
ngx_http_ngsp_redis_exiting(void)
{
    return ngx_http_ngsp_redis.exiting;
}


ngx_int_t
ngx_http_ngsp_redis_command(redisCallbackFn *fn, void *privdata,
    const u_char *cmd, size_t len)
{
    return ngx_http_ngsp_redis_send(&ngx_http_ngsp_redis, fn, privdata, cmd,
                                    len);
}


ngx_int_t
ngx_http_ngsp_redis_command_slot(redisCallbackFn *fn,
    ngx_http_ngsp_redis_wanted_pt wanted, void *privdata, unsigned slot,
    const u_char *cmd, size_t len)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    if (rd->conf && rd->conf->mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
        return ngx_http_ngsp_redis_cluster_command(fn, wanted, privdata, slot,
                                                   cmd, len);
    }

    return ngx_http_ngsp_redis_send(rd, fn, privdata, cmd, len);
}


ngx_uint_t
ngx_http_ngsp_redis_ready_now(ngx_http_ngsp_redis_t *rd)
{
    return rd->ac != NULL && rd->ready;
}


ngx_uint_t
ngx_http_ngsp_redis_busy(ngx_http_ngsp_redis_t *rd)
{
    return rd->ac != NULL && rd->ac->replies.head != NULL;
}


ngx_http_ngsp_redis_stats_t *
ngx_http_ngsp_redis_worker_stats(void)
{
    return ngx_http_ngsp_redis_slot(&ngx_http_ngsp_redis);
}


ngx_int_t
ngx_http_ngsp_redis_send(ngx_http_ngsp_redis_t *rd, redisCallbackFn *fn,
    void *privdata, const u_char *cmd, size_t len)
{
    int                         rc;
    ngx_http_ngsp_redis_cmd_t  *c;

    if (rd->ac == NULL || rd->exiting) {
        ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                       "ngsp redis command refused: not connected");
        return NGX_DECLINED;
    }

    c = NULL;

    if (rd->stats) {
        c = rd->free;

        if (c) {
            rd->free = c->next;

        } else {
            /* a command not timed is still sent */
            c = ngx_alloc(sizeof(ngx_http_ngsp_redis_cmd_t), rd->log);
        }
    }

    if (c) {
        c->fn = fn;
        c->privdata = privdata;
        c->sent = ngx_http_ngsp_redis_now_us();

        rc = redisAsyncFormattedCommand(rd->ac, ngx_http_ngsp_redis_reply, c,
                                        (const char *) cmd, len);
        if (rc != REDIS_OK) {
            c->next = rd->free;
            rd->free = c;
        }

    } else {
        rc = redisAsyncFormattedCommand(rd->ac, fn, privdata,
                                        (const char *) cmd, len);
    }

    if (rc != REDIS_OK) {
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis command queued, %uz bytes", len);

    /* not pushed back by later commands: only a reply resets it */
    if (!rd->stall.timer_set) {
        ngx_add_timer(&rd->stall, rd->conf->stall_timeout);
    }

    return NGX_OK;
}


/* --- connection -------------------------------------------------------- */


/* "name=time": a time above 0 */
static char *
ngx_http_ngsp_redis_parse_msec(ngx_conf_t *cf, ngx_str_t *value,
    ngx_msec_t *ms)
{
    u_char     *eq;
    ngx_str_t   s;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    s.data = eq + 1;
    s.len = value->data + value->len - s.data;

    *ms = ngx_parse_time(&s, 0);

    if (*ms == (ngx_msec_t) NGX_ERROR || *ms == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid \"%V\" (a time above 0, such as "
                           "500ms or 2s)", value);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_ngsp_redis_connect(ngx_http_ngsp_redis_t *rd)
{
    size_t                       len[3];
    const char                  *argv[3];
    ngx_connection_t            *c;
    redisAsyncContext           *ac;
    ngx_http_ngsp_redis_conf_t  *rc;
    u_char                       db[NGX_INT_T_LEN];

    rc = rd->conf;

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis connect \"%V\" to %s:%d",
                   &rc->name, rc->host.data, rc->port);

    /* a numeric address or a path: hiredis's getaddrinfo does no lookup */
    if (rc->port) {
        ac = redisAsyncConnect((char *) rc->host.data, rc->port);
    } else {
        ac = redisAsyncConnectUnix((char *) rc->host.data);
    }

    rd->setup = 0;

    if (ac == NULL || ac->err) {
        ngx_http_ngsp_redis_count(rd, errors);

        if (!rd->lost_logged) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis \"%V\": cannot connect: %s",
                          &rc->name, ac ? ac->errstr : "out of memory");
            rd->lost_logged = 1;
        }

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_http_ngsp_redis_schedule(rd);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_http_ngsp_redis_schedule(rd);
        return;
    }

    c->data = rd;
    c->read->handler = ngx_http_ngsp_redis_read_handler;
    c->write->handler = ngx_http_ngsp_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->ac = ac;
    rd->conn = c;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_ngsp_redis_add_read;
    ac->ev.delRead = ngx_http_ngsp_redis_del_read;
    ac->ev.addWrite = ngx_http_ngsp_redis_add_write;
    ac->ev.delWrite = ngx_http_ngsp_redis_del_write;
    ac->ev.cleanup = ngx_http_ngsp_redis_cleanup;

    /* after the hooks: it asks for the write event that ends the connect */
    redisAsyncSetConnectCallback(ac, ngx_http_ngsp_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_ngsp_redis_on_disconnect);

    if (rc->port) {
        redisEnableKeepAlive(&ac->c);
    }

    /* queued first, so every later command runs authenticated */
    if (rc->password.len) {
        argv[0] = "AUTH";
        len[0] = 4;
        argv[1] = (char *) rc->password.data;
        len[1] = rc->password.len;
        ngx_http_ngsp_redis_setup(rd, "AUTH", 2, argv, len);
    }

    if (rc->db) {
        argv[0] = "SELECT";
        len[0] = 6;
        argv[1] = (char *) db;
        len[1] = ngx_sprintf(db, "%i", rc->db) - db;
        ngx_http_ngsp_redis_setup(rd, "SELECT", 2, argv, len);
    }

    /* so that the first EVALSHA of each request finds it */
    if (rc->preload.len) {
        argv[0] = "SCRIPT";
        len[0] = 6;
        argv[1] = "LOAD";
        len[1] = 4;
        argv[2] = (char *) rc->preload.data;
        len[2] = rc->preload.len;
        ngx_http_ngsp_redis_setup(rd, "SCRIPT LOAD", 3, argv, len);
    }

    ngx_add_timer(&rd->connect_timer, rc->connect_timeout);

    if (ac->replies.head) {
        ngx_add_timer(&rd->stall, rc->stall_timeout);
    }
}


/* a command of the connection's own (no secret reaches the log) */
static void
ngx_http_ngsp_redis_setup(ngx_http_ngsp_redis_t *rd, const char *what,
    int argc, const char **argv, const size_t *len)
{
    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis %s queued", what);

    if (redisAsyncCommandArgv(rd->ac, ngx_http_ngsp_redis_setup_reply,
                              (void *) what, argc, argv, len)
        == REDIS_OK)
    {
        rd->setup++;
    }
}


static void
ngx_http_ngsp_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_ngsp_redis_t  *rd = ac->data;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis connected \"%V\", status %d",
                   &rd->conf->name, status);

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_http_ngsp_redis_count(rd, errors);

        if (!rd->lost_logged) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis \"%V\": cannot connect: %s",
                          &rd->conf->name, ac->errstr);
            rd->lost_logged = 1;
        }
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "ngsp: redis \"%V\" connected", &rd->conf->name);

    rd->backoff = 0;
    rd->lost_logged = 0;

    /* else ready when the last setup command is answered */
    if (rd->setup == 0) {
        ngx_http_ngsp_redis_ready(rd);
    }
}


static void
ngx_http_ngsp_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_ngsp_redis_t  *rd = ac->data;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis disconnected \"%V\", status %d",
                   &rd->conf->name, status);

    if (status != REDIS_OK && !rd->exiting) {
        ngx_http_ngsp_redis_count(rd, errors);

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "ngsp: redis \"%V\": connection lost: %s",
                      &rd->conf->name, ac->errstr);
        rd->lost_logged = 1;
    }
}


/* AUTH and SELECT: a refusal drops the connection, retried with backoff */
static void
ngx_http_ngsp_redis_setup_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply             *reply = r;
    ngx_http_ngsp_redis_t  *rd = ac->data;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis %s reply type %d", (char *) data,
                   reply ? reply->type : -1);

    if (reply == NULL) {
        return;
    }

    if (reply->type != REDIS_REPLY_ERROR) {
        if (--rd->setup == 0) {
            ngx_http_ngsp_redis_ready(rd);
        }

        return;
    }

    ngx_http_ngsp_redis_count(rd, errors);

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "ngsp: redis \"%V\": %s refused: %*s", &rd->conf->name,
                  (char *) data, (size_t) ngx_min(reply->len, 200),
                  reply->str);

    redisAsyncDisconnect(ac);
}


static void
ngx_http_ngsp_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    if (rd->ac == NULL || (rd->ac->c.flags & REDIS_CONNECTED)) {
        return;
    }

    ngx_http_ngsp_redis_count(rd, timeouts);

    if (!rd->lost_logged) {
        ngx_log_error(NGX_LOG_ERR, rd->log, NGX_ETIMEDOUT,
                      "ngsp: redis \"%V\": connect timed out",
                      &rd->conf->name);
        rd->lost_logged = 1;
    }

    /* fails the commands queued meanwhile, then the cleanup hook runs */
    redisAsyncFree(rd->ac);
}


static void
ngx_http_ngsp_redis_stalled(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    if (rd->ac == NULL || rd->ac->replies.head == NULL) {
        return;
    }

    ngx_http_ngsp_redis_count(rd, timeouts);

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "ngsp: redis \"%V\": no reply for %Mms, reconnecting",
                  &rd->conf->name, rd->conf->stall_timeout);
    rd->lost_logged = 1;

    /* the commands still owed fail by their policy at once */
    redisAsyncFree(rd->ac);
}


static void
ngx_http_ngsp_redis_reconnect(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0, "ngsp redis reconnect");

    if (rd->ac == NULL && !rd->exiting) {
        ngx_http_ngsp_redis_connect(rd);
    }
}


static void
ngx_http_ngsp_redis_schedule(ngx_http_ngsp_redis_t *rd)
{
    ngx_msec_t  delay;

    if (rd->exiting || rd->reconnect.timer_set) {
        return;
    }

    delay = rd->backoff ? rd->backoff : NGX_HTTP_NGSP_REDIS_BACKOFF_MIN;
    rd->backoff = ngx_min(delay * 2, NGX_HTTP_NGSP_REDIS_BACKOFF_MAX);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis reconnect in %Mms", delay);

    ngx_add_timer(&rd->reconnect, delay);
}


/*
 * hiredis is about to close the socket and free its context: forget both,
 * and let go of the nginx connection without closing its fd.
 */
static void
ngx_http_ngsp_redis_cleanup(void *privdata)
{
    ngx_http_ngsp_redis_t  *rd = privdata;

    ngx_connection_t  *c;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis connection released");

    c = rd->conn;

    if (c) {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;
    }

    rd->conn = NULL;
    rd->ac = NULL;

    /* a count: one per cluster node's connection, else 0 or 1 */
    if (rd->ready) {
        rd->ready = 0;

        if (ngx_http_ngsp_redis_slot(rd)) {
            (void) ngx_atomic_fetch_add(&rd->stats->connected,
                                        (ngx_atomic_int_t) -1);
        }
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->stall.timer_set) {
        ngx_del_timer(&rd->stall);
    }

    ngx_http_ngsp_redis_schedule(rd);
}


/* --- events ------------------------------------------------------------ */


static void
ngx_http_ngsp_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c = ev->data;
    ngx_http_ngsp_redis_t  *rd = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0, "ngsp redis read");

    /* may free the connection: nothing after this call touches it */
    if (rd->ac) {
        redisAsyncHandleRead(rd->ac);
    }

    /* the peer answers: the stall clock starts again, or stops */
    if (rd->ac && rd->ac->replies.head) {
        ngx_add_timer(&rd->stall, rd->conf->stall_timeout);

    } else if (rd->stall.timer_set) {
        ngx_del_timer(&rd->stall);
    }
}


static void
ngx_http_ngsp_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t       *c = ev->data;
    ngx_http_ngsp_redis_t  *rd = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0, "ngsp redis write");

    if (rd->ac) {
        rd->flushing = 1;
        redisAsyncHandleWrite(rd->ac);
        rd->flushing = 0;
    }
}


static void
ngx_http_ngsp_redis_ev(ngx_http_ngsp_redis_t *rd, ngx_uint_t write,
    ngx_uint_t add)
{
    ngx_int_t     event;
    ngx_event_t  *ev;

    if (rd->conn == NULL) {
        return;
    }

    ev = write ? rd->conn->write : rd->conn->read;
    event = write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (add && !ev->active) {
        /* flags 0: level-triggered in every event module */
        if (ngx_add_event(ev, event, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis: cannot add event");
        }

    } else if (!add && ev->active) {
        if (ngx_del_event(ev, event, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis: cannot delete event");
        }
    }
}


static void
ngx_http_ngsp_redis_add_read(void *privdata)
{
    ngx_http_ngsp_redis_ev(privdata, 0, 1);
}


static void
ngx_http_ngsp_redis_del_read(void *privdata)
{
    ngx_http_ngsp_redis_ev(privdata, 0, 0);
}


/*
 * Commands queued while the loop handles its events are written together
 * when it has handled them all (a posted event), with no epoll change;
 * only a full socket, or a connect in progress, waits for the write event.
 */
static void
ngx_http_ngsp_redis_add_write(void *privdata)
{
    ngx_http_ngsp_redis_t  *rd = privdata;

    ngx_event_t  *wev;

    if (rd->conn == NULL) {
        return;
    }

    wev = rd->conn->write;

    if (rd->flushing || !(rd->ac->c.flags & REDIS_CONNECTED)) {
        ngx_http_ngsp_redis_ev(rd, 1, 1);

    } else if (!wev->active && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_http_ngsp_redis_del_write(void *privdata)
{
    ngx_http_ngsp_redis_t  *rd = privdata;

    if (rd->conn && rd->conn->write->posted) {
        ngx_delete_posted_event(rd->conn->write);
    }

    ngx_http_ngsp_redis_ev(rd, 1, 0);
}


/* --- statistics -------------------------------------------------------- */


ngx_http_ngsp_redis_stats_t *
ngx_http_ngsp_redis_stats(ngx_cycle_t *cycle, ngx_uint_t *n)
{
    ngx_uint_t         i;
    ngx_shm_zone_t    *zone;
    ngx_list_part_t   *part;
    ngx_core_conf_t   *ccf;

    *n = 0;

    part = &cycle->shared_memory.part;
    zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            zone = part->elts;
            i = 0;
        }

        if (zone[i].tag == &ngx_http_ngsp_quota_module
            && zone[i].shm.name.len == ngx_http_ngsp_redis_zone_name.len
            && ngx_strncmp(zone[i].shm.name.data,
                           ngx_http_ngsp_redis_zone_name.data,
                           ngx_http_ngsp_redis_zone_name.len)
               == 0)
        {
            break;
        }
    }

    if (zone[i].data == NULL) {
        return NULL;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    *n = ngx_min((ngx_uint_t) ccf->worker_processes,
                 NGX_HTTP_NGSP_REDIS_SLOTS);

    return zone[i].data;
}


void
ngx_http_ngsp_redis_timed_out(void)
{
    ngx_http_ngsp_redis_count(&ngx_http_ngsp_redis, timeouts);
}


static ngx_int_t
ngx_http_ngsp_redis_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t            len;
    ngx_slab_pool_t  *shpool;

    /* a reload keeps the slots: each new worker clears its own */
    if (data) {
        zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        zone->data = shpool->data;
        return NGX_OK;
    }

    /* not zeroed here: fresh shared memory is zero, and untouched pages
     * cost nothing until a worker writes its slot */
    zone->data = ngx_slab_alloc(shpool, NGX_HTTP_NGSP_REDIS_SLOTS
                                        * sizeof(ngx_http_ngsp_redis_stats_t));
    if (zone->data == NULL) {
        return NGX_ERROR;
    }

    shpool->data = zone->data;

    len = sizeof(" in ngsp redis zone \"\"") + zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in ngsp redis zone \"%V\"%Z",
                &zone->shm.name);

    return NGX_OK;
}


/*
 * A worker process (not a cache helper) starts its slot afresh.  Its pid
 * goes in first: a worker of the last generation, still finishing its
 * requests after a reload, sees the slot is no longer its own and stops
 * writing to it.
 */
static void
ngx_http_ngsp_redis_claim_slot(ngx_http_ngsp_redis_t *rd)
{
    u_char                       *p;
    ngx_http_ngsp_redis_conf_t   *rc;
    ngx_http_ngsp_redis_stats_t  *st;

    rc = rd->conf;

    if (rc->stats == NULL || rc->stats->data == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE)
        || ngx_worker >= NGX_HTTP_NGSP_REDIS_SLOTS)
    {
        return;
    }

    st = (ngx_http_ngsp_redis_stats_t *) rc->stats->data + ngx_worker;

    st->pid = (ngx_atomic_uint_t) ngx_pid;
    ngx_memory_barrier();

    ngx_memzero((u_char *) &st->connected,
                sizeof(ngx_http_ngsp_redis_stats_t)
                - offsetof(ngx_http_ngsp_redis_stats_t, connected));

    if (rc->port == 0) {
        p = ngx_snprintf(st->address, sizeof(st->address) - 1, "unix:%V",
                         &rc->host);

    } else if (ngx_strlchr(rc->host.data, rc->host.data + rc->host.len, ':')) {
        p = ngx_snprintf(st->address, sizeof(st->address) - 1, "[%V]:%d",
                         &rc->host, rc->port);

    } else {
        p = ngx_snprintf(st->address, sizeof(st->address) - 1, "%V:%d",
                         &rc->host, rc->port);
    }

    *p = '\0';

    rd->stats = st;
}


/* this worker's slot, while it is still its own */
static ngx_http_ngsp_redis_stats_t *
ngx_http_ngsp_redis_slot(ngx_http_ngsp_redis_t *rd)
{
    if (rd->stats == NULL || rd->stats->pid != (ngx_atomic_uint_t) ngx_pid) {
        return NULL;
    }

    return rd->stats;
}


/* connected, authenticated, the script loaded: commands are answered */
static void
ngx_http_ngsp_redis_ready(ngx_http_ngsp_redis_t *rd)
{
    ngx_http_ngsp_redis_stats_t  *st;

    st = ngx_http_ngsp_redis_slot(rd);

    rd->ready = 1;

    if (st) {
        (void) ngx_atomic_fetch_add(&st->connected, 1);
        (void) ngx_atomic_fetch_add(&st->connects, 1);

        if (rd->was_ready) {
            (void) ngx_atomic_fetch_add(&st->reconnects, 1);
        }
    }

    rd->was_ready = 1;
}


/* a command's reply (NULL: the connection failed first) */
static void
ngx_http_ngsp_redis_reply(redisAsyncContext *ac, void *r, void *data)
{
    ngx_http_ngsp_redis_cmd_t  *c = data;

    void                         *privdata;
    uint64_t                      us, sent;
    ngx_uint_t                    i;
    redisReply                   *reply = r;
    redisCallbackFn              *fn;
    ngx_http_ngsp_redis_t        *rd = ac->data;
    ngx_http_ngsp_redis_stats_t  *st;

    fn = c->fn;
    privdata = c->privdata;
    sent = c->sent;

    /* back to the free list first: fn may queue another command */
    c->next = rd->free;
    rd->free = c;

    st = ngx_http_ngsp_redis_slot(rd);

    if (reply && st) {
        us = ngx_http_ngsp_redis_now_us() - sent;

        for (i = 0; i < NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS - 1; i++) {
            if (us <= (uint64_t) ngx_http_ngsp_redis_latency_bounds_us[i]) {
                break;
            }
        }

        (void) ngx_atomic_fetch_add(&st->latency[i], 1);
        (void) ngx_atomic_fetch_add(&st->latency_sum_us, us);
        (void) ngx_atomic_fetch_add(&st->commands, 1);

        if (reply->type == REDIS_REPLY_ERROR) {
            (void) ngx_atomic_fetch_add(&st->errors, 1);
        }
    }

    fn(ac, r, privdata);
}


/*
 * The time a reply takes is often well under nginx's cached millisecond,
 * so each command reads the monotonic clock (a vDSO call, no system call).
 */
static uint64_t
ngx_http_ngsp_redis_now_us(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}
