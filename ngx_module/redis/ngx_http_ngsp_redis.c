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
 * With Sentinel, the sentinels name the address (see
 * ngx_http_ngsp_redis_sentinel.c, which shares this event glue through
 * ngx_http_ngsp_redis_link_t); ROLE joins the setup commands, and nothing
 * of the requests' goes out before it says "master".  A lost connection
 * forgets the master, so the worker asks the sentinels again.
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
#include "ngx_http_ngsp_redis_sentinel.h"


#define NGX_HTTP_NGSP_REDIS_BACKOFF_MIN  50
#define NGX_HTTP_NGSP_REDIS_BACKOFF_MAX  2000
#define NGX_HTTP_NGSP_REDIS_STALL        5000

/* ngsp_redis's "name=value" options, in ngx_http_ngsp_redis_option's order */
#define NGX_HTTP_NGSP_REDIS_OPT_PASSWORD           0
#define NGX_HTTP_NGSP_REDIS_OPT_DB                 1
#define NGX_HTTP_NGSP_REDIS_OPT_CONNECT_TIMEOUT    2
#define NGX_HTTP_NGSP_REDIS_OPT_STALL_TIMEOUT      3
#define NGX_HTTP_NGSP_REDIS_OPT_SENTINEL           4
#define NGX_HTTP_NGSP_REDIS_OPT_SENTINEL_PASSWORD  5

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
    ngx_http_ngsp_redis_link_t    link;
    ngx_log_t                    *log;
    ngx_event_t                   connect_timer;
    ngx_event_t                   reconnect;
    ngx_event_t                   stall;
    ngx_msec_t                    backoff;
    ngx_http_ngsp_redis_stats_t  *stats;        /* NULL: not counted */
    ngx_http_ngsp_redis_cmd_t    *free;
    ngx_uint_t                    setup;        /* setup replies owed */
    ngx_str_t                     name;         /* of the target, for logs */
    int                           port;         /* the target's, 0: unix */
    u_char                        host[NGX_SOCKADDR_STRLEN + 1];
    u_char                        text[NGX_SOCKADDR_STRLEN + 8];
                                                /* name's bytes */
    unsigned                      exiting:1;
    unsigned                      lost_logged:1;
    unsigned                      was_ready:1;  /* a connection was up */
    unsigned                      ready:1;      /* answered as set up */
    unsigned                      known:1;      /* Sentinel: a master named */
    unsigned                      moving:1;     /* to another master */
};


static ngx_int_t ngx_http_ngsp_redis_option(ngx_str_t *value);
static ngx_int_t ngx_http_ngsp_redis_resolve(ngx_conf_t *cf,
    ngx_http_ngsp_redis_addr_t *addr, in_port_t default_port);
static char *ngx_http_ngsp_redis_parse_msec(ngx_conf_t *cf, ngx_str_t *value,
    ngx_msec_t *ms);
static void ngx_http_ngsp_redis_prepare(ngx_http_ngsp_redis_t *rd,
    ngx_http_ngsp_redis_conf_t *rc, ngx_log_t *log);
static void ngx_http_ngsp_redis_release(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_connect(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_setup(ngx_http_ngsp_redis_t *rd,
    const char *what, int argc, const char **argv, const size_t *len);
static void ngx_http_ngsp_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ngsp_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ngsp_redis_setup_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_ngsp_redis_role_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_ngsp_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_ngsp_redis_stalled(ngx_event_t *ev);
static void ngx_http_ngsp_redis_reconnect(ngx_event_t *ev);
static void ngx_http_ngsp_redis_schedule(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_lost(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_closed(ngx_http_ngsp_redis_link_t *link);
static void ngx_http_ngsp_redis_read(ngx_http_ngsp_redis_link_t *link);
static void ngx_http_ngsp_redis_target(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_cleanup(void *privdata);
static void ngx_http_ngsp_redis_read_handler(ngx_event_t *ev);
static void ngx_http_ngsp_redis_write_handler(ngx_event_t *ev);
static void ngx_http_ngsp_redis_ev(ngx_http_ngsp_redis_link_t *link,
    ngx_uint_t write, ngx_uint_t add);
static void ngx_http_ngsp_redis_add_read(void *privdata);
static void ngx_http_ngsp_redis_del_read(void *privdata);
static void ngx_http_ngsp_redis_add_write(void *privdata);
static void ngx_http_ngsp_redis_del_write(void *privdata);
static ngx_int_t ngx_http_ngsp_redis_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void ngx_http_ngsp_redis_claim_slot(ngx_http_ngsp_redis_t *rd);
static ngx_http_ngsp_redis_stats_t *ngx_http_ngsp_redis_slot(
    ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_ready(ngx_http_ngsp_redis_t *rd);
static void ngx_http_ngsp_redis_reply(redisAsyncContext *ac, void *r,
    void *data);
static uint64_t ngx_http_ngsp_redis_now_us(void);


/* the data connection of a context's callback */
#define ngx_http_ngsp_redis_owner(ac)                                         \
    ((ngx_http_ngsp_redis_t *)                                                \
         ((ngx_http_ngsp_redis_link_t *) (ac)->data)->data)


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


/*
 * A parameter as an error message may show it: up to its "=", since the
 * value may be a password (a typo in the name, or one given twice).
 */
static ngx_str_t *
ngx_http_ngsp_redis_shown(ngx_str_t *value)
{
    u_char  *eq;

    eq = ngx_strlchr(value->data, value->data + value->len, '=');
    if (eq != NULL) {
        value->len = eq + 1 - value->data;
    }

    return value;
}


char *
ngx_http_ngsp_redis_parse(ngx_conf_t *cf, ngx_http_ngsp_redis_conf_t *rc)
{
    size_t                       size;
    ngx_str_t                   *value, *opt;
    ngx_int_t                    n;
    ngx_uint_t                   i, cluster, seen;
    ngx_msec_t                  *ms;
    ngx_http_ngsp_redis_addr_t  *addr;

    value = cf->args->elts;

    rc->connect_timeout = 1000;
    rc->stall_timeout = NGX_HTTP_NGSP_REDIS_STALL;

    rc->addrs = ngx_array_create(cf->pool, 3,
                                 sizeof(ngx_http_ngsp_redis_addr_t));
    if (rc->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    cluster = 0;
    seen = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 7 && ngx_strncmp(value[i].data, "cluster", 7) == 0)
        {
            if (cluster) {
                goto twice;
            }

            cluster = 1;
            continue;
        }

        n = ngx_http_ngsp_redis_option(&value[i]);

        if (n == NGX_DECLINED) {
            /* an address, resolved once all are known */
            addr = ngx_array_push(rc->addrs);
            if (addr == NULL) {
                return NGX_CONF_ERROR;
            }

            addr->name = value[i];
            continue;
        }

        if (n == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "ngsp: invalid parameter \"%V\" (ngsp_redis "
                               "takes addresses, sentinel=, "
                               "sentinel_password=, cluster, password=, db=, "
                               "connect_timeout= and stall_timeout=)",
                               ngx_http_ngsp_redis_shown(&value[i]));
            return NGX_CONF_ERROR;
        }

        if (seen & (1 << n)) {
            goto twice;
        }

        seen |= 1 << n;

        opt = &value[i];

        switch (n) {

        case NGX_HTTP_NGSP_REDIS_OPT_PASSWORD:
        case NGX_HTTP_NGSP_REDIS_OPT_SENTINEL_PASSWORD:
        case NGX_HTTP_NGSP_REDIS_OPT_SENTINEL:
            size = ngx_strlchr(opt->data, opt->data + opt->len, '=')
                   - opt->data + 1;

            if (opt->len == size) {
                /* an unset environment variable in a template, often */
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ngsp: empty \"%*s\" (give the %s, or "
                                   "leave the parameter out)", size,
                                   opt->data,
                                   n == NGX_HTTP_NGSP_REDIS_OPT_SENTINEL
                                   ? "master's name" : "password");
                return NGX_CONF_ERROR;
            }

            if (n == NGX_HTTP_NGSP_REDIS_OPT_PASSWORD) {
                rc->password.data = opt->data + size;
                rc->password.len = opt->len - size;

            } else if (n == NGX_HTTP_NGSP_REDIS_OPT_SENTINEL) {
                rc->sentinel_name.data = opt->data + size;
                rc->sentinel_name.len = opt->len - size;

            } else {
                rc->sentinel_password.data = opt->data + size;
                rc->sentinel_password.len = opt->len - size;
            }

            break;

        case NGX_HTTP_NGSP_REDIS_OPT_DB:
            n = ngx_atoi(opt->data + 3, opt->len - 3);
            if (n == NGX_ERROR || n > 65535) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "ngsp: invalid \"%V\" (db=N, with N "
                                   "from 0 to 65535)", opt);
                return NGX_CONF_ERROR;
            }

            rc->db = n;
            break;

        default: /* the timeouts */
            ms = (n == NGX_HTTP_NGSP_REDIS_OPT_CONNECT_TIMEOUT)
                 ? &rc->connect_timeout : &rc->stall_timeout;

            if (ngx_http_ngsp_redis_parse_msec(cf, opt, ms) != NGX_CONF_OK) {
                return NGX_CONF_ERROR;
            }
        }
    }

    if (rc->addrs->nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: ngsp_redis needs an address (host, "
                           "host:port or unix:/path)");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinel_name.len && cluster) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: ngsp_redis takes \"sentinel=\" or "
                           "\"cluster\", not both");
        return NGX_CONF_ERROR;
    }

    if (cluster && (seen & (1 << NGX_HTTP_NGSP_REDIS_OPT_DB))) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"db=\" with \"cluster\" (Redis Cluster "
                           "has only database 0: leave db= out)");
        return NGX_CONF_ERROR;
    }

    if (rc->sentinel_name.len && rc->password.len
        && rc->sentinel_password.len == 0)
    {
        /* whoever can write to a sentinel then names the master */
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "ngsp: sentinels without \"sentinel_password=\" "
                           "can be told to name any master, and the "
                           "master's password goes to it: protect the "
                           "sentinels (requirepass) and give "
                           "\"sentinel_password=\"");
    }

    if (rc->sentinel_password.len && rc->sentinel_name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: \"sentinel_password=\" without "
                           "\"sentinel=NAME\" (the password is the "
                           "sentinels')");
        return NGX_CONF_ERROR;
    }

    if (rc->addrs->nelts > 1 && rc->sentinel_name.len == 0 && !cluster) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: ngsp_redis lists %ui addresses: add "
                           "\"sentinel=NAME\" (the addresses are "
                           "sentinels) or \"cluster\" (they are cluster "
                           "nodes), or give one address",
                           rc->addrs->nelts);
        return NGX_CONF_ERROR;
    }

    addr = rc->addrs->elts;

    /* options may come first: the name is never a password */
    if (rc->sentinel_name.len) {
        rc->mode = NGX_HTTP_NGSP_REDIS_SENTINEL;
        rc->name = rc->sentinel_name;

    } else {
        rc->mode = cluster ? NGX_HTTP_NGSP_REDIS_CLUSTER
                           : NGX_HTTP_NGSP_REDIS_SINGLE;
        rc->name = addr[0].name;
    }

    for (i = 0; i < rc->addrs->nelts; i++) {
        if (ngx_http_ngsp_redis_resolve(cf, &addr[i],
                                        rc->mode == NGX_HTTP_NGSP_REDIS_SENTINEL
                                        ? 26379 : 6379)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    rc->host = addr[0].host;
    rc->port = addr[0].port;

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

twice:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "ngsp: \"%V\" is given twice in ngsp_redis",
                       ngx_http_ngsp_redis_shown(&value[i]));
    return NGX_CONF_ERROR;
}


ngx_int_t
ngx_http_ngsp_redis_init(ngx_cycle_t *cycle, ngx_http_ngsp_redis_conf_t *rc)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    ngx_http_ngsp_redis_prepare(rd, rc, cycle->log);

    ngx_http_ngsp_redis_claim_slot(rd);

    if (rc->mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        /* the sentinels name the master: nothing to talk to before */
        rd->name = rc->name;

        if (ngx_http_ngsp_redis_sentinel_init(cycle, rc) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_http_ngsp_redis_connect(rd);

        return NGX_OK;
    }

    ngx_cpystrn(rd->host, rc->host.data, sizeof(rd->host));
    rd->port = rc->port;
    rd->known = 1;
    ngx_http_ngsp_redis_target(rd);

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

    rd->link.log = log;
    rd->link.data = rd;
    rd->link.read = ngx_http_ngsp_redis_read;
    rd->link.closed = ngx_http_ngsp_redis_closed;
}


void
ngx_http_ngsp_redis_exit(void)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0, "ngsp redis exit");

    /* first: the replies the nodes' connections fail are not news */
    rd->exiting = 1;

    if (rd->conf && rd->conf->mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        ngx_http_ngsp_redis_sentinel_exit();
    }

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

    ngx_cpystrn(rd->host, rc->host.data, sizeof(rd->host));
    rd->port = rc->port;
    rd->known = 1;
    ngx_http_ngsp_redis_target(rd);

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

    if (rd->link.ac) {
        redisAsyncFree(rd->link.ac);
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
    return rd->link.ac != NULL && rd->ready;
}


ngx_uint_t
ngx_http_ngsp_redis_busy(ngx_http_ngsp_redis_t *rd)
{
    return rd->link.ac != NULL && rd->link.ac->replies.head != NULL;
}


ngx_int_t
ngx_http_ngsp_redis_send(ngx_http_ngsp_redis_t *rd, redisCallbackFn *fn,
    void *privdata, const u_char *cmd, size_t len)
{
    int                         rc;
    ngx_http_ngsp_redis_cmd_t  *c;

    /* with Sentinel, nothing goes out before ROLE says "master" */
    if (rd->link.ac == NULL || rd->exiting
        || (!rd->ready && rd->conf->mode == NGX_HTTP_NGSP_REDIS_SENTINEL))
    {
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

        rc = redisAsyncFormattedCommand(rd->link.ac,
                                        ngx_http_ngsp_redis_reply, c,
                                        (const char *) cmd, len);
        if (rc != REDIS_OK) {
            c->next = rd->free;
            rd->free = c;
        }

    } else {
        rc = redisAsyncFormattedCommand(rd->link.ac, fn, privdata,
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


/* the index of a "name=value" option; NGX_DECLINED: an address */
static ngx_int_t
ngx_http_ngsp_redis_option(ngx_str_t *value)
{
    u_char      *eq;
    ngx_uint_t   i;

    static ngx_str_t  names[] = {
        ngx_string("password"),
        ngx_string("db"),
        ngx_string("connect_timeout"),
        ngx_string("stall_timeout"),
        ngx_string("sentinel"),
        ngx_string("sentinel_password"),
    };

    eq = ngx_strlchr(value->data, value->data + value->len, '=');

    /* "unix:/path" may hold '=' after its prefix, a name never does */
    if (eq == NULL
        || (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0))
    {
        return NGX_DECLINED;
    }

    for (i = 0; i < sizeof(names) / sizeof(ngx_str_t); i++) {
        if ((size_t) (eq - value->data) == names[i].len
            && ngx_strncmp(value->data, names[i].data, names[i].len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* resolved now, in the master: a worker never waits on DNS */
static ngx_int_t
ngx_http_ngsp_redis_resolve(ngx_conf_t *cf, ngx_http_ngsp_redis_addr_t *addr,
    in_port_t default_port)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;
    u_char      text[NGX_SOCKADDR_STRLEN];

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = addr->name;
    u.default_port = default_port;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp: invalid redis address \"%V\"%s%s (host, "
                           "host:port or unix:/path)",
                           &addr->name, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_ERROR;
    }

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u.family == AF_UNIX) {
        p = (u_char *) ((struct sockaddr_un *) u.addrs[0].sockaddr)->sun_path;
        len = ngx_strlen(p);
        addr->port = 0;

    } else
#endif
    {
        len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, text,
                            NGX_SOCKADDR_STRLEN, 0);
        p = text;
        addr->port = ngx_inet_get_port(u.addrs[0].sockaddr);
    }

    addr->host.data = ngx_pnalloc(cf->pool, len + 1);
    if (addr->host.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(addr->host.data, p, len);
    addr->host.data[len] = '\0';
    addr->host.len = len;

    return NGX_OK;
}


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
    const char                  *argv[3], *err;
    redisAsyncContext           *ac;
    ngx_http_ngsp_redis_conf_t  *rc;
    u_char                       db[NGX_INT_T_LEN];

    rc = rd->conf;

    /* no master known: the sentinels name one, then this runs again */
    if (rc->mode == NGX_HTTP_NGSP_REDIS_SENTINEL && !rd->known) {
        ngx_http_ngsp_redis_sentinel_ask();
        return;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis connect \"%V\" to %s:%d",
                   &rd->name, rd->host, rd->port);

    rd->setup = 0;

    if (ngx_http_ngsp_redis_link_open(&rd->link, (char *) rd->host, rd->port,
                                      &err)
        != NGX_OK)
    {
        ngx_http_ngsp_redis_count(rd, errors);

        if (!rd->lost_logged) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis \"%V\": cannot connect: %s",
                          &rd->name, err);
            rd->lost_logged = 1;
        }

        ngx_http_ngsp_redis_lost(rd);
        return;
    }

    ac = rd->link.ac;

    redisAsyncSetConnectCallback(ac, ngx_http_ngsp_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_http_ngsp_redis_on_disconnect);

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

    /* what a sentinel names may be stale: a replica takes no command */
    if (rc->mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        argv[0] = "ROLE";
        len[0] = 4;

        if (redisAsyncCommandArgv(ac, ngx_http_ngsp_redis_role_reply, NULL,
                                  1, argv, len)
            == REDIS_OK)
        {
            rd->setup++;
        }
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

    if (redisAsyncCommandArgv(rd->link.ac, ngx_http_ngsp_redis_setup_reply,
                              (void *) what, argc, argv, len)
        == REDIS_OK)
    {
        rd->setup++;
    }
}


static void
ngx_http_ngsp_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_ngsp_redis_t  *rd = ngx_http_ngsp_redis_owner(ac);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis connected \"%V\", status %d",
                   &rd->name, status);

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (status != REDIS_OK) {
        ngx_http_ngsp_redis_count(rd, errors);

        if (!rd->lost_logged) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "ngsp: redis \"%V\": cannot connect: %s",
                          &rd->name, ac->errstr);
            rd->lost_logged = 1;
        }
        return;
    }

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "ngsp: redis \"%V\" connected", &rd->name);

    /* else ready when the last setup command is answered */
    if (rd->setup == 0) {
        ngx_http_ngsp_redis_ready(rd);
    }
}


static void
ngx_http_ngsp_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_http_ngsp_redis_t  *rd = ngx_http_ngsp_redis_owner(ac);

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "ngsp redis disconnected \"%V\", status %d",
                   &rd->name, status);

    if (status != REDIS_OK && !rd->exiting) {
        ngx_http_ngsp_redis_count(rd, errors);

        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "ngsp: redis \"%V\": connection lost: %s",
                      &rd->name, ac->errstr);
        rd->lost_logged = 1;
    }
}


/* AUTH and SELECT: a refusal drops the connection, retried with backoff */
static void
ngx_http_ngsp_redis_setup_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply             *reply = r;
    ngx_http_ngsp_redis_t  *rd = ngx_http_ngsp_redis_owner(ac);

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
                  "ngsp: redis \"%V\": %s refused: %*s", &rd->name,
                  (char *) data, (size_t) ngx_min(reply->len, 200),
                  reply->str);

    redisAsyncDisconnect(ac);
}


/*
 * ROLE's first element says what the server is now: anything but a master
 * is dropped, and the sentinels are asked again.
 */
static void
ngx_http_ngsp_redis_role_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply             *reply = r;
    ngx_http_ngsp_redis_t  *rd = ngx_http_ngsp_redis_owner(ac);

    size_t       len;
    const char  *role;

    if (reply == NULL) {
        return;
    }

    role = "an unexpected reply";
    len = ngx_strlen(role);

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0
        && (reply->element[0]->type == REDIS_REPLY_STRING
            || reply->element[0]->type == REDIS_REPLY_STATUS))
    {
        role = reply->element[0]->str;
        len = ngx_min(reply->element[0]->len, 32);

        if (len == 6 && ngx_strncmp(role, "master", 6) == 0) {
            if (--rd->setup == 0) {
                ngx_http_ngsp_redis_ready(rd);
            }

            return;
        }
    }

    ngx_http_ngsp_redis_count(rd, errors);

    if (!rd->lost_logged) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "ngsp: redis \"%V\" answers ROLE with \"%*s\", not "
                      "\"master\": asking the sentinels again", &rd->name,
                      len, role);
        rd->lost_logged = 1;
    }

    rd->known = 0;

    redisAsyncDisconnect(ac);
}


static void
ngx_http_ngsp_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    if (rd->link.ac == NULL || (rd->link.ac->c.flags & REDIS_CONNECTED)) {
        return;
    }

    ngx_http_ngsp_redis_count(rd, timeouts);

    if (!rd->lost_logged) {
        ngx_log_error(NGX_LOG_ERR, rd->log, NGX_ETIMEDOUT,
                      "ngsp: redis \"%V\": connect timed out", &rd->name);
        rd->lost_logged = 1;
    }

    /* fails the commands queued meanwhile, then the cleanup hook runs */
    redisAsyncFree(rd->link.ac);
}


static void
ngx_http_ngsp_redis_stalled(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    if (rd->link.ac == NULL || rd->link.ac->replies.head == NULL) {
        return;
    }

    ngx_http_ngsp_redis_count(rd, timeouts);

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "ngsp: redis \"%V\": no reply for %Mms, reconnecting",
                  &rd->name, rd->conf->stall_timeout);
    rd->lost_logged = 1;

    /* the commands still owed fail by their policy at once */
    redisAsyncFree(rd->link.ac);
}


static void
ngx_http_ngsp_redis_reconnect(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_t  *rd = ev->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, rd->log, 0, "ngsp redis reconnect");

    if (rd->link.ac == NULL && !rd->exiting) {
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
 * The data connection is gone or never came: with Sentinel, the master
 * it went to is asked for again, unless another one is named already.
 */
static void
ngx_http_ngsp_redis_lost(ngx_http_ngsp_redis_t *rd)
{
    if (rd->conf->mode == NGX_HTTP_NGSP_REDIS_SENTINEL && !rd->moving) {
        rd->known = 0;
    }

    if (!rd->moving) {
        ngx_http_ngsp_redis_schedule(rd);
    }
}


/* hiredis is about to free the data connection's context */
static void
ngx_http_ngsp_redis_closed(ngx_http_ngsp_redis_link_t *link)
{
    ngx_http_ngsp_redis_t  *rd = link->data;

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

    ngx_http_ngsp_redis_lost(rd);
}


/* the peer answers: the stall clock starts again, or stops */
static void
ngx_http_ngsp_redis_read(ngx_http_ngsp_redis_link_t *link)
{
    ngx_http_ngsp_redis_t  *rd = link->data;

    if (link->ac && link->ac->replies.head) {
        ngx_add_timer(&rd->stall, rd->conf->stall_timeout);

    } else if (rd->stall.timer_set) {
        ngx_del_timer(&rd->stall);
    }
}


/* --- Sentinel ---------------------------------------------------------- */


void
ngx_http_ngsp_redis_master(const char *host, int port)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    size_t                        len;
    ngx_uint_t                    same;
    ngx_http_ngsp_redis_stats_t  *st;

    if (rd->exiting) {
        return;
    }

    len = ngx_strlen(host);

    if (len > NGX_SOCKADDR_STRLEN) {
        return;
    }

    same = (rd->port == port && ngx_strcmp(rd->host, host) == 0);

    if (same && rd->known) {
        /* already there, or on the way */
        if (rd->link.ac == NULL && !rd->reconnect.timer_set) {
            ngx_http_ngsp_redis_connect(rd);
        }

        return;
    }

    if (!same) {
        st = ngx_http_ngsp_redis_slot(rd);

        if (rd->was_ready && rd->port) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "ngsp: redis sentinel \"%V\": master moves from "
                          "%V to %s:%d", &rd->conf->name, &rd->name, host,
                          port);

            if (st) {
                (void) ngx_atomic_fetch_add(&st->master_changes, 1);
            }
        }

        ngx_memcpy(rd->host, host, len + 1);
        rd->port = port;

        ngx_http_ngsp_redis_target(rd);

        /* a new address: no backoff, and its failures are news */
        rd->backoff = 0;
        rd->lost_logged = 0;
    }

    /* else the same address named again, after the backoff */
    rd->known = 1;

    /* the commands owed to the old master fail by their policy now */
    if (rd->link.ac) {
        rd->moving = 1;
        redisAsyncFree(rd->link.ac);
        rd->moving = 0;
    }

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    ngx_http_ngsp_redis_connect(rd);
}


void
ngx_http_ngsp_redis_no_master(void)
{
    ngx_http_ngsp_redis_schedule(&ngx_http_ngsp_redis);
}


ngx_int_t
ngx_http_ngsp_redis_current(ngx_str_t *host, int *port)
{
    ngx_http_ngsp_redis_t  *rd = &ngx_http_ngsp_redis;

    if (rd->conf == NULL) {
        return NGX_DECLINED;
    }

    /* one of the masters: a command for another's slot is MOVED there */
    if (rd->conf->mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
        return ngx_http_ngsp_redis_cluster_any(host, port);
    }

    if (rd->conf->mode != NGX_HTTP_NGSP_REDIS_SENTINEL) {
        *host = rd->conf->host;
        *port = rd->conf->port;
        return NGX_OK;
    }

    if (!rd->ready) {
        return NGX_DECLINED;
    }

    host->data = rd->host;
    host->len = ngx_strlen(rd->host);
    *port = rd->port;

    return NGX_OK;
}


ngx_http_ngsp_redis_stats_t *
ngx_http_ngsp_redis_own_stats(void)
{
    return ngx_http_ngsp_redis_slot(&ngx_http_ngsp_redis);
}


/* the target's name for logs and its slot's address: host:port or unix: */
static void
ngx_http_ngsp_redis_target(ngx_http_ngsp_redis_t *rd)
{
    u_char                       *p;
    ngx_http_ngsp_redis_stats_t  *st;

    if (rd->port == 0) {
        p = ngx_snprintf(rd->text, sizeof(rd->text) - 1, "unix:%s",
                         rd->host);

    } else if (ngx_strchr(rd->host, ':')) {
        p = ngx_snprintf(rd->text, sizeof(rd->text) - 1, "[%s]:%d",
                         rd->host, rd->port);

    } else {
        p = ngx_snprintf(rd->text, sizeof(rd->text) - 1, "%s:%d",
                         rd->host, rd->port);
    }

    *p = '\0';

    if (rd->conf->mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        rd->name.data = rd->text;
        rd->name.len = p - rd->text;

    } else {
        rd->name = rd->conf->name;
    }

    /* a cluster node's: the slot lists the nodes apart */
    st = (rd == &ngx_http_ngsp_redis) ? ngx_http_ngsp_redis_slot(rd) : NULL;

    if (st) {
        p = ngx_cpymem(st->address, rd->text,
                       ngx_min((size_t) (p - rd->text),
                               sizeof(st->address) - 1));
        *p = '\0';
    }
}


/* --- links: hiredis contexts on nginx's event loop ---------------------- */


ngx_int_t
ngx_http_ngsp_redis_link_open(ngx_http_ngsp_redis_link_t *link,
    const char *host, int port, const char **err)
{
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    static char  errstr[128];

    /* a numeric address or a path: hiredis's getaddrinfo does no lookup */
    if (port) {
        ac = redisAsyncConnect(host, port);
    } else {
        ac = redisAsyncConnectUnix(host);
    }

    if (ac == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    if (ac->err) {
        /* the context and its message go together */
        ngx_cpystrn((u_char *) errstr, (u_char *) ac->errstr,
                    sizeof(errstr));
        *err = errstr;
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c = ngx_get_connection(ac->c.fd, link->log);
    if (c == NULL) {
        *err = "no free connection";
        redisAsyncFree(ac);
        return NGX_ERROR;
    }

    c->data = link;
    c->read->handler = ngx_http_ngsp_redis_read_handler;
    c->write->handler = ngx_http_ngsp_redis_write_handler;
    c->read->log = link->log;
    c->write->log = link->log;

    link->ac = ac;
    link->conn = c;
    link->flushing = 0;

    ac->data = link;
    ac->ev.data = link;
    ac->ev.addRead = ngx_http_ngsp_redis_add_read;
    ac->ev.delRead = ngx_http_ngsp_redis_del_read;
    ac->ev.addWrite = ngx_http_ngsp_redis_add_write;
    ac->ev.delWrite = ngx_http_ngsp_redis_del_write;
    ac->ev.cleanup = ngx_http_ngsp_redis_cleanup;

    if (port) {
        redisEnableKeepAlive(&ac->c);
    }

    /*
     * the caller sets its connect callback next: that asks for the write
     * event that ends the connect, through the hooks set above
     */
    return NGX_OK;
}


/*
 * hiredis is about to close the socket and free its context: forget both,
 * let go of the nginx connection without closing its fd, and tell the
 * owner.
 */
static void
ngx_http_ngsp_redis_cleanup(void *privdata)
{
    ngx_http_ngsp_redis_link_t  *link = privdata;

    ngx_connection_t  *c;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, link->log, 0,
                   "ngsp redis connection released");

    c = link->conn;

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

    link->conn = NULL;
    link->ac = NULL;

    if (link->closed) {
        link->closed(link);
    }
}


/* --- events ------------------------------------------------------------ */


static void
ngx_http_ngsp_redis_read_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c = ev->data;
    ngx_http_ngsp_redis_link_t  *link = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0, "ngsp redis read");

    /* may free the connection: nothing after this call touches it */
    if (link->ac) {
        redisAsyncHandleRead(link->ac);
    }

    if (link->read) {
        link->read(link);
    }
}


static void
ngx_http_ngsp_redis_write_handler(ngx_event_t *ev)
{
    ngx_connection_t            *c = ev->data;
    ngx_http_ngsp_redis_link_t  *link = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_EVENT, ev->log, 0, "ngsp redis write");

    if (link->ac) {
        link->flushing = 1;
        redisAsyncHandleWrite(link->ac);
        link->flushing = 0;
    }
}


static void
ngx_http_ngsp_redis_ev(ngx_http_ngsp_redis_link_t *link, ngx_uint_t write,
    ngx_uint_t add)
{
    ngx_int_t     event;
    ngx_event_t  *ev;

    if (link->conn == NULL) {
        return;
    }

    ev = write ? link->conn->write : link->conn->read;
    event = write ? NGX_WRITE_EVENT : NGX_READ_EVENT;

    if (add && !ev->active) {
        /* flags 0: level-triggered in every event module */
        if (ngx_add_event(ev, event, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, link->log, 0,
                          "ngsp: redis: cannot add event");
        }

    } else if (!add && ev->active) {
        if (ngx_del_event(ev, event, 0) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, link->log, 0,
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
    ngx_http_ngsp_redis_link_t  *link = privdata;

    ngx_event_t  *wev;

    if (link->conn == NULL) {
        return;
    }

    wev = link->conn->write;

    if (link->flushing || !(link->ac->c.flags & REDIS_CONNECTED)) {
        ngx_http_ngsp_redis_ev(link, 1, 1);

    } else if (!wev->active && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_http_ngsp_redis_del_write(void *privdata)
{
    ngx_http_ngsp_redis_link_t  *link = privdata;

    if (link->conn && link->conn->write->posted) {
        ngx_delete_posted_event(link->conn->write);
    }

    ngx_http_ngsp_redis_ev(link, 1, 0);
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

    if (st) {
        if (!rd->ready) {
            (void) ngx_atomic_fetch_add(&st->connected, 1);
        }

        (void) ngx_atomic_fetch_add(&st->connects, 1);

        if (rd->was_ready) {
            (void) ngx_atomic_fetch_add(&st->reconnects, 1);
        }
    }

    /* not before: a server that refuses the setup is retried slower */
    rd->backoff = 0;
    rd->lost_logged = 0;

    rd->was_ready = 1;
    rd->ready = 1;

    if (rd->conf->mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "ngsp: redis sentinel \"%V\": using master %V",
                      &rd->conf->name, &rd->name);
    }
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
    ngx_http_ngsp_redis_t        *rd = ngx_http_ngsp_redis_owner(ac);
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
