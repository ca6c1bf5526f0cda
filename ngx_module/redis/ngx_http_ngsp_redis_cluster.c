/*
 * Redis Cluster on the worker's event loop.
 *
 * Each worker keeps a map of the 16384 slots to the masters serving them,
 * read from CLUSTER SLOTS asked of a node it knows (a seed at first), and
 * one connection per master a command needs, opened when first needed;
 * each connection loads the script as it connects, as the single one does.
 * A command goes to the master of its slot: one round trip, steady state.
 *
 * MOVED: the slot's new master is taken at once, the map is read again,
 * and the command goes once more, to that master.  ASK: ASKING and the
 * command go together, pipelined, to the node named, once.  TRYAGAIN,
 * CLUSTERDOWN and a lost connection reach the caller as they are (its
 * request fails by its policy) and the map is read again, with backoff:
 * a failover or a migration is followed without a reload.
 *
 * Nothing here blocks: addresses in the map are numeric (a node named by
 * a host name is refused, as a worker never waits on DNS), and the map is
 * one more command on a connection.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_ngsp_redis.h"


#define NGX_HTTP_NGSP_CLUSTER_SLOTS      16384
#define NGX_HTTP_NGSP_CLUSTER_NODES      256
#define NGX_HTTP_NGSP_CLUSTER_NONE       0xffff

/* the map is read at most this often, and backs off to the max on errors */
#define NGX_HTTP_NGSP_CLUSTER_REFRESH    100
#define NGX_HTTP_NGSP_CLUSTER_BACKOFF    2000

#define NGX_HTTP_NGSP_CLUSTER_HOST_LEN   NGX_INET6_ADDRSTRLEN


typedef struct {
    ngx_http_ngsp_redis_conf_t    conf;      /* the worker's, at this node */
    ngx_http_ngsp_redis_t        *rd;        /* NULL: no connection */
    ngx_uint_t                    serves;    /* slots in the last map */
    u_char                        host[NGX_HTTP_NGSP_CLUSTER_HOST_LEN + 1];
    u_char                        name[NGX_HTTP_NGSP_CLUSTER_HOST_LEN + 8];
} ngx_http_ngsp_cluster_node_t;


/* a command on its way, kept to be sent again after MOVED or ASK */
typedef struct {
    redisCallbackFn               *fn;
    ngx_http_ngsp_redis_wanted_pt  wanted;
    void                          *privdata;
    ngx_http_ngsp_cluster_node_t  *node;      /* where it went */
    ngx_uint_t                     redirected;
    size_t                         len;
    u_char                         cmd[1];
} ngx_http_ngsp_cluster_cmd_t;


typedef struct {
    ngx_http_ngsp_redis_conf_t    *conf;
    ngx_log_t                     *log;
    ngx_http_ngsp_cluster_node_t  *nodes[NGX_HTTP_NGSP_CLUSTER_NODES];
    ngx_uint_t                     nnodes;
    ngx_uint_t                     asked;     /* the next node to ask */
    ngx_uint_t                     loaded;    /* a map was read */
    ngx_event_t                    refresh;
    ngx_event_t                    prune;
    ngx_msec_t                     backoff;
    ngx_msec_t                     last;      /* when a map was last read */
    unsigned                       refreshing:1;
    unsigned                       again:1;   /* asked for while reading */
    unsigned                       exiting:1;
    uint16_t                       map[NGX_HTTP_NGSP_CLUSTER_SLOTS];
} ngx_http_ngsp_cluster_t;


static ngx_http_ngsp_cluster_node_t *ngx_http_ngsp_cluster_node(
    ngx_http_ngsp_cluster_t *cl, u_char *host, size_t len, int port);
static ngx_int_t ngx_http_ngsp_cluster_send(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_node_t *node, ngx_http_ngsp_cluster_cmd_t *cc,
    ngx_uint_t asking);
static void ngx_http_ngsp_cluster_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_ngsp_cluster_ignore(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_int_t ngx_http_ngsp_cluster_redirect(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_cmd_t *cc, redisReply *reply);
static void ngx_http_ngsp_cluster_refresh_soon(ngx_http_ngsp_cluster_t *cl);
static void ngx_http_ngsp_cluster_refresh(ngx_event_t *ev);
static void ngx_http_ngsp_cluster_slots(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_uint_t ngx_http_ngsp_cluster_numeric(u_char *host, size_t len);
static ngx_int_t ngx_http_ngsp_cluster_load(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_node_t *asked, redisReply *reply);
static void ngx_http_ngsp_cluster_failed(ngx_http_ngsp_cluster_t *cl);
static void ngx_http_ngsp_cluster_prune(ngx_event_t *ev);
static void ngx_http_ngsp_cluster_publish(ngx_http_ngsp_cluster_t *cl);


static ngx_http_ngsp_cluster_t  *ngx_http_ngsp_cluster;


static u_char  ngx_http_ngsp_cluster_asking[] = "*1\r\n$6\r\nASKING\r\n";
static u_char  ngx_http_ngsp_cluster_slots_cmd[] =
    "*2\r\n$7\r\nCLUSTER\r\n$5\r\nSLOTS\r\n";


ngx_int_t
ngx_http_ngsp_redis_cluster_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc)
{
    ngx_uint_t                   i;
    ngx_http_ngsp_cluster_t     *cl;
    ngx_http_ngsp_redis_addr_t  *a;

    cl = ngx_calloc(sizeof(ngx_http_ngsp_cluster_t), cycle->log);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->conf = rc;
    cl->log = cycle->log;

    for (i = 0; i < NGX_HTTP_NGSP_CLUSTER_SLOTS; i++) {
        cl->map[i] = NGX_HTTP_NGSP_CLUSTER_NONE;
    }

    cl->refresh.handler = ngx_http_ngsp_cluster_refresh;
    cl->refresh.data = cl;
    cl->refresh.log = cycle->log;
    cl->refresh.cancelable = 1;

    cl->prune.handler = ngx_http_ngsp_cluster_prune;
    cl->prune.data = cl;
    cl->prune.log = cycle->log;

    ngx_http_ngsp_cluster = cl;

    /* the seeds, in the order given: the first answers the first ask */
    a = rc->addrs->elts;

    for (i = 0; i < rc->addrs->nelts; i++) {
        (void) ngx_http_ngsp_cluster_node(cl, a[i].host.data, a[i].host.len,
                                          a[i].port);
    }

    ngx_add_timer(&cl->refresh, 1);

    return NGX_OK;
}


void
ngx_http_ngsp_redis_cluster_exit(void)
{
    ngx_uint_t                     i;
    ngx_http_ngsp_cluster_t       *cl = ngx_http_ngsp_cluster;
    ngx_http_ngsp_cluster_node_t  *node;

    if (cl == NULL) {
        return;
    }

    cl->exiting = 1;

    if (cl->refresh.timer_set) {
        ngx_del_timer(&cl->refresh);
    }

    if (cl->prune.posted) {
        ngx_delete_posted_event(&cl->prune);
    }

    /* the pending commands are called back (NULL replies) as each closes */
    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (node->rd) {
            ngx_http_ngsp_redis_close(node->rd);
            node->rd = NULL;
        }
    }

    for (i = 0; i < cl->nnodes; i++) {
        ngx_free(cl->nodes[i]);
    }

    ngx_http_ngsp_cluster = NULL;
    ngx_free(cl);
}


ngx_int_t
ngx_http_ngsp_redis_cluster_command(redisCallbackFn *fn,
    ngx_http_ngsp_redis_wanted_pt wanted, void *privdata, unsigned slot,
    const u_char *cmd, size_t len)
{
    ngx_int_t                      rc;
    ngx_uint_t                     i, n;
    ngx_http_ngsp_cluster_t       *cl = ngx_http_ngsp_cluster;
    ngx_http_ngsp_cluster_cmd_t   *cc;
    ngx_http_ngsp_cluster_node_t  *node;

    if (cl == NULL || cl->exiting || slot >= NGX_HTTP_NGSP_CLUSTER_SLOTS) {
        return NGX_DECLINED;
    }

    n = cl->map[slot];

    if (n != NGX_HTTP_NGSP_CLUSTER_NONE) {
        node = cl->nodes[n];

    } else if (!cl->loaded) {
        /* no map yet: any node, whose MOVED names the right one */
        node = cl->nodes[0];

        for (i = 0; i < cl->nnodes; i++) {
            if (cl->nodes[i]->rd
                && ngx_http_ngsp_redis_ready_now(cl->nodes[i]->rd))
            {
                node = cl->nodes[i];
                break;
            }
        }

    } else {
        /* a slot no master serves: the cluster is down or changing */
        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                       "ngsp redis cluster: slot %ud not served", slot);

        ngx_http_ngsp_cluster_refresh_soon(cl);
        return NGX_DECLINED;
    }

    cc = ngx_alloc(offsetof(ngx_http_ngsp_cluster_cmd_t, cmd) + len, cl->log);
    if (cc == NULL) {
        return NGX_DECLINED;
    }

    cc->fn = fn;
    cc->wanted = wanted;
    cc->privdata = privdata;
    cc->redirected = 0;
    cc->len = len;
    ngx_memcpy(cc->cmd, cmd, len);

    rc = ngx_http_ngsp_cluster_send(cl, node, cc, 0);

    if (rc != NGX_OK) {
        ngx_free(cc);

        /* a master unreachable now: perhaps failed over */
        ngx_http_ngsp_cluster_refresh_soon(cl);
    }

    return rc;
}


/* the node at host:port, made known (without a connection) if need be */
static ngx_http_ngsp_cluster_node_t *
ngx_http_ngsp_cluster_node(ngx_http_ngsp_cluster_t *cl, u_char *host,
    size_t len, int port)
{
    u_char                        *p;
    ngx_uint_t                     i;
    ngx_http_ngsp_cluster_node_t  *node;

    if (len == 0 || len > NGX_HTTP_NGSP_CLUSTER_HOST_LEN) {
        return NULL;
    }

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (node->conf.port == port
            && node->conf.host.len == len
            && ngx_strncmp(node->host, host, len) == 0)
        {
            return node;
        }
    }

    if (cl->nnodes == NGX_HTTP_NGSP_CLUSTER_NODES) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "ngsp: redis cluster: more than %d nodes known",
                      NGX_HTTP_NGSP_CLUSTER_NODES);
        return NULL;
    }

    node = ngx_calloc(sizeof(ngx_http_ngsp_cluster_node_t), cl->log);
    if (node == NULL) {
        return NULL;
    }

    node->conf = *cl->conf;

    ngx_memcpy(node->host, host, len);
    node->host[len] = '\0';

    node->conf.host.data = node->host;
    node->conf.host.len = len;
    node->conf.port = port;

    if (port == 0) {
        p = ngx_snprintf(node->name, sizeof(node->name) - 1, "unix:%s",
                         node->host);

    } else if (ngx_strlchr(host, host + len, ':')) {
        p = ngx_snprintf(node->name, sizeof(node->name) - 1, "[%s]:%d",
                         node->host, port);

    } else {
        p = ngx_snprintf(node->name, sizeof(node->name) - 1, "%s:%d",
                         node->host, port);
    }

    node->conf.name.data = node->name;
    node->conf.name.len = p - node->name;

    cl->nodes[cl->nnodes++] = node;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                   "ngsp redis cluster: node %V known", &node->conf.name);

    return node;
}


/*
 * Queues the command on the node's connection, opened now if it has none.
 * hiredis keeps what is queued while the connection is being made, after
 * the connection's own AUTH and SCRIPT LOAD.
 */
static ngx_int_t
ngx_http_ngsp_cluster_send(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_node_t *node, ngx_http_ngsp_cluster_cmd_t *cc,
    ngx_uint_t asking)
{
    if (node->rd == NULL) {
        node->rd = ngx_http_ngsp_redis_open(&node->conf, cl->log);
        if (node->rd == NULL) {
            return NGX_DECLINED;
        }

        ngx_http_ngsp_cluster_publish(cl);
    }

    if (asking
        && ngx_http_ngsp_redis_send(node->rd, ngx_http_ngsp_cluster_ignore,
                                    NULL, ngx_http_ngsp_cluster_asking,
                                    sizeof(ngx_http_ngsp_cluster_asking) - 1)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    cc->node = node;

    return ngx_http_ngsp_redis_send(node->rd, ngx_http_ngsp_cluster_reply,
                                    cc, cc->cmd, cc->len);
}


static void
ngx_http_ngsp_cluster_ignore(redisAsyncContext *ac, void *r, void *privdata)
{
    /* ASKING's +OK; its error would be the command's error as well */
}


/* every command's reply: redirections are followed here, once */
static void
ngx_http_ngsp_cluster_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                   *reply = r;
    ngx_http_ngsp_cluster_t      *cl = ngx_http_ngsp_cluster;
    ngx_http_ngsp_cluster_cmd_t  *cc = privdata;

    if (cl == NULL || cl->exiting || ngx_http_ngsp_redis_exiting()) {
        goto done;
    }

    if (reply == NULL) {
        /* the node is gone: perhaps a failover is under way */
        ngx_http_ngsp_cluster_refresh_soon(cl);
        goto done;
    }

    if (reply->type != REDIS_REPLY_ERROR) {
        goto done;
    }

    if ((reply->len > 6 && ngx_strncmp(reply->str, "MOVED ", 6) == 0)
        || (reply->len > 4 && ngx_strncmp(reply->str, "ASK ", 4) == 0))
    {
        if (ngx_http_ngsp_cluster_redirect(cl, cc, reply) == NGX_OK) {
            /* cc goes on, to the node named */
            return;
        }

        goto done;
    }

    if (reply->len >= 11 && ngx_strncmp(reply->str, "CLUSTERDOWN", 11) == 0) {
        ngx_http_ngsp_cluster_refresh_soon(cl);
    }

done:

    cc->fn(ac, r, cc->privdata);
    ngx_free(cc);
}


/*
 * "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381"; an empty host
 * is the host of the node that answered.  NGX_OK: the command is sent.
 */
static ngx_int_t
ngx_http_ngsp_cluster_redirect(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_cmd_t *cc, redisReply *reply)
{
    u_char                        *p, *last, *colon, *host;
    size_t                         len;
    ngx_int_t                      slot, port, n;
    ngx_uint_t                     moved;
    ngx_http_ngsp_cluster_node_t  *node;

    moved = (reply->str[0] == 'M');

    p = (u_char *) reply->str + (moved ? 6 : 4);
    last = (u_char *) reply->str + reply->len;

    host = ngx_strlchr(p, last, ' ');
    if (host == NULL) {
        goto invalid;
    }

    slot = ngx_atoi(p, host - p);
    host++;

    colon = NULL;

    for (p = last; p > host; p--) {
        if (p[-1] == ':') {
            colon = p - 1;
            break;
        }
    }

    if (slot == NGX_ERROR || slot >= NGX_HTTP_NGSP_CLUSTER_SLOTS
        || colon == NULL)
    {
        goto invalid;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);
    if (port == NGX_ERROR || port == 0 || port > 65535) {
        goto invalid;
    }

    len = colon - host;

    if (len == 0) {
        host = cc->node->host;
        len = cc->node->conf.host.len;

    } else if (!ngx_http_ngsp_cluster_numeric(host, len)) {
        /* a host name: never resolved by a worker */
        goto invalid;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                   "ngsp redis cluster: %s slot %i",
                   moved ? "MOVED" : "ASK", slot);

    if (moved) {
        /* other slots may have moved too: a failover, a resharding */
        ngx_http_ngsp_cluster_refresh_soon(cl);
    }

    if (cc->redirected) {
        /* twice: the cluster is changing faster than we follow */
        return NGX_DECLINED;
    }

    if (cc->wanted && !cc->wanted(cc->privdata)) {
        /* given up on (timed out): run it nowhere else */
        return NGX_DECLINED;
    }

    node = ngx_http_ngsp_cluster_node(cl, host, len, (int) port);
    if (node == NULL) {
        return NGX_DECLINED;
    }

    if (moved) {
        for (n = 0; n < (ngx_int_t) cl->nnodes; n++) {
            if (cl->nodes[n] == node) {
                cl->map[slot] = (uint16_t) n;
                break;
            }
        }
    }

    cc->redirected = 1;

    return ngx_http_ngsp_cluster_send(cl, node, cc, !moved);

invalid:

    ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                  "ngsp: redis cluster: cannot follow \"%*s\"",
                  (size_t) ngx_min(reply->len, 200), reply->str);

    return NGX_DECLINED;
}


/* --- the map ----------------------------------------------------------- */


static void
ngx_http_ngsp_cluster_refresh_soon(ngx_http_ngsp_cluster_t *cl)
{
    ngx_msec_t  delay, since;

    if (cl->exiting) {
        return;
    }

    if (cl->refreshing) {
        cl->again = 1;
        return;
    }

    if (cl->refresh.timer_set) {
        return;
    }

    since = ngx_current_msec - cl->last;

    if (cl->backoff) {
        delay = cl->backoff;

    } else if (cl->loaded && since < NGX_HTTP_NGSP_CLUSTER_REFRESH) {
        delay = NGX_HTTP_NGSP_CLUSTER_REFRESH - since;

    } else {
        delay = 1;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                   "ngsp redis cluster: map read in %Mms", delay);

    ngx_add_timer(&cl->refresh, delay);
}


/*
 * Asks a node for the map: a master connected already, else the next node
 * known (seeds first), whose connection is opened for it.
 */
static void
ngx_http_ngsp_cluster_refresh(ngx_event_t *ev)
{
    ngx_uint_t                     i, k;
    ngx_http_ngsp_cluster_t       *cl = ev->data;
    ngx_http_ngsp_cluster_node_t  *node;

    if (cl->exiting || cl->refreshing || cl->nnodes == 0) {
        return;
    }

    cl->again = 0;

    for (k = 0; k < 2; k++) {
        for (i = 0; i < cl->nnodes; i++) {
            node = cl->nodes[(cl->asked + i) % cl->nnodes];

            if (k == 0
                && (node->rd == NULL
                    || !ngx_http_ngsp_redis_ready_now(node->rd)))
            {
                continue;
            }

            if (node->rd == NULL) {
                node->rd = ngx_http_ngsp_redis_open(&node->conf, cl->log);
                if (node->rd == NULL) {
                    continue;
                }

                ngx_http_ngsp_cluster_publish(cl);
            }

            if (ngx_http_ngsp_redis_send(node->rd,
                                         ngx_http_ngsp_cluster_slots, node,
                                         ngx_http_ngsp_cluster_slots_cmd,
                                         sizeof(ngx_http_ngsp_cluster_slots_cmd)
                                         - 1)
                == NGX_OK)
            {
                ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                               "ngsp redis cluster: map asked of %V",
                               &node->conf.name);

                cl->refreshing = 1;
                return;
            }
        }
    }

    /* every node is down or reconnecting */
    ngx_http_ngsp_cluster_failed(cl);
}


static void
ngx_http_ngsp_cluster_slots(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                    *reply = r;
    ngx_http_ngsp_cluster_t       *cl = ngx_http_ngsp_cluster;
    ngx_http_ngsp_cluster_node_t  *node = privdata;

    if (cl == NULL || cl->exiting || ngx_http_ngsp_redis_exiting()) {
        return;
    }

    cl->refreshing = 0;

    if (reply == NULL) {
        ngx_http_ngsp_cluster_failed(cl);
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                      "ngsp: redis cluster: %V refused CLUSTER SLOTS: %*s",
                      &node->conf.name, (size_t) ngx_min(reply->len, 200),
                      reply->str);
        ngx_http_ngsp_cluster_failed(cl);
        return;
    }

    if (ngx_http_ngsp_cluster_load(cl, node, reply) != NGX_OK) {
        ngx_http_ngsp_cluster_failed(cl);
        return;
    }

    cl->backoff = 0;
    cl->last = ngx_current_msec;

    /* connections are closed out of hiredis's callbacks */
    if (!cl->prune.posted) {
        ngx_post_event(&cl->prune, &ngx_posted_events);
    }

    if (cl->again) {
        ngx_http_ngsp_cluster_refresh_soon(cl);
    }
}


/* a map asked of another node, later */
static void
ngx_http_ngsp_cluster_failed(ngx_http_ngsp_cluster_t *cl)
{
    cl->refreshing = 0;
    cl->asked++;

    cl->backoff = cl->backoff ? ngx_min(cl->backoff * 2,
                                        NGX_HTTP_NGSP_CLUSTER_BACKOFF)
                              : NGX_HTTP_NGSP_CLUSTER_REFRESH;

    ngx_http_ngsp_cluster_refresh_soon(cl);
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...];
 * a master's empty host (or "?") is that of the node asked.
 */
static ngx_int_t
ngx_http_ngsp_cluster_load(ngx_http_ngsp_cluster_t *cl,
    ngx_http_ngsp_cluster_node_t *asked, redisReply *reply)
{
    u_char                        *host;
    size_t                         i, len;
    uint16_t                      *map;
    ngx_uint_t                     n, served, level;
    long long                      start, end, s, port;
    redisReply                    *range, *master;
    ngx_http_ngsp_cluster_node_t  *node;

    if (reply->type != REDIS_REPLY_ARRAY) {
        goto invalid;
    }

    map = ngx_alloc(sizeof(cl->map), cl->log);
    if (map == NULL) {
        return NGX_ERROR;
    }

    for (s = 0; s < NGX_HTTP_NGSP_CLUSTER_SLOTS; s++) {
        map[s] = NGX_HTTP_NGSP_CLUSTER_NONE;
    }

    served = 0;

    for (i = 0; i < reply->elements; i++) {
        range = reply->element[i];

        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3
            || range->element[0]->type != REDIS_REPLY_INTEGER
            || range->element[1]->type != REDIS_REPLY_INTEGER
            || range->element[2]->type != REDIS_REPLY_ARRAY
            || range->element[2]->elements < 2
            || range->element[2]->element[0]->type != REDIS_REPLY_STRING
            || range->element[2]->element[1]->type != REDIS_REPLY_INTEGER)
        {
            ngx_free(map);
            goto invalid;
        }

        start = range->element[0]->integer;
        end = range->element[1]->integer;
        master = range->element[2];

        host = (u_char *) master->element[0]->str;
        len = master->element[0]->len;
        port = master->element[1]->integer;

        if (start < 0 || end >= NGX_HTTP_NGSP_CLUSTER_SLOTS || start > end
            || port <= 0 || port > 65535)
        {
            ngx_free(map);
            goto invalid;
        }

        if (len == 0 || (len == 1 && host[0] == '?')) {
            host = asked->host;
            len = asked->conf.host.len;

        } else if (!ngx_http_ngsp_cluster_numeric(host, len)) {
            ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                          "ngsp: redis cluster: node \"%*s\" is not a "
                          "numeric address (set cluster-preferred-endpoint-"
                          "type ip)", ngx_min(len, 64), host);
            continue;
        }

        node = ngx_http_ngsp_cluster_node(cl, host, len, (int) port);
        if (node == NULL) {
            continue;
        }

        for (n = 0; cl->nodes[n] != node; n++) { /* void */ }

        for (s = start; s <= end; s++) {
            map[s] = (uint16_t) n;
        }

        served += end - start + 1;
    }

    ngx_memcpy(cl->map, map, sizeof(cl->map));
    ngx_free(map);

    if (!cl->loaded || served != NGX_HTTP_NGSP_CLUSTER_SLOTS) {
        level = (served == NGX_HTTP_NGSP_CLUSTER_SLOTS) ? NGX_LOG_INFO
                                                        : NGX_LOG_WARN;

        ngx_log_error(level, cl->log, 0,
                      "ngsp: redis cluster: map read from %V, %ui of %d "
                      "slots served", &asked->conf.name, served,
                      NGX_HTTP_NGSP_CLUSTER_SLOTS);
    }

    cl->loaded = 1;

    return NGX_OK;

invalid:

    ngx_log_error(NGX_LOG_ERR, cl->log, 0,
                  "ngsp: redis cluster: unexpected CLUSTER SLOTS reply "
                  "from %V", &asked->conf.name);

    return NGX_ERROR;
}


/*
 * After a map is read: a node that serves no slot any more and owes no
 * reply is let go (a seed that is a replica, a master failed over).
 */
static void
ngx_http_ngsp_cluster_prune(ngx_event_t *ev)
{
    ngx_uint_t                     i, s, closed;
    ngx_http_ngsp_cluster_t       *cl = ev->data;
    ngx_http_ngsp_cluster_node_t  *node;
    u_char                         used[NGX_HTTP_NGSP_CLUSTER_NODES];

    if (cl->exiting) {
        return;
    }

    ngx_memzero(used, sizeof(used));

    for (s = 0; s < NGX_HTTP_NGSP_CLUSTER_SLOTS; s++) {
        if (cl->map[s] != NGX_HTTP_NGSP_CLUSTER_NONE) {
            used[cl->map[s]] = 1;
        }
    }

    closed = 0;

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];
        node->serves = used[i];

        if (used[i] || node->rd == NULL
            || ngx_http_ngsp_redis_busy(node->rd))
        {
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, cl->log, 0,
                       "ngsp redis cluster: %V serves no slot: closed",
                       &node->conf.name);

        ngx_http_ngsp_redis_close(node->rd);
        node->rd = NULL;
        closed = 1;
    }

    if (closed) {
        ngx_http_ngsp_cluster_publish(cl);
    }
}


/*
 * The nodes this worker holds connections to, in its status slot; a
 * reader in another worker retries while the generation is odd or moves.
 */
static void
ngx_http_ngsp_cluster_publish(ngx_http_ngsp_cluster_t *cl)
{
    u_char                        *p, *last;
    ngx_uint_t                     i;
    ngx_http_ngsp_redis_stats_t   *st;
    ngx_http_ngsp_cluster_node_t  *node;

    st = ngx_http_ngsp_redis_own_stats();
    if (st == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&st->nodes_gen, 1);
    ngx_memory_barrier();

    p = st->nodes;
    last = st->nodes + sizeof(st->nodes) - 1;

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (node->rd == NULL) {
            continue;
        }

        if (p + node->conf.name.len + 1 > last) {
            break;
        }

        if (p != st->nodes) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, node->conf.name.data, node->conf.name.len);
    }

    *p = '\0';

    ngx_memory_barrier();
    (void) ngx_atomic_fetch_add(&st->nodes_gen, 1);
}


size_t
ngx_http_ngsp_redis_cluster_nodes(ngx_http_ngsp_redis_stats_t *st,
    u_char *buf)
{
    size_t        len;
    ngx_uint_t    tries;
    ngx_atomic_t  gen;

    for (tries = 0; tries < 100; tries++) {
        gen = st->nodes_gen;
        ngx_memory_barrier();

        if (gen & 1) {
            continue;
        }

        ngx_memcpy(buf, st->nodes, NGX_HTTP_NGSP_REDIS_NODES_LEN);
        ngx_memory_barrier();

        if (st->nodes_gen == gen) {
            len = ngx_strnlen(buf, NGX_HTTP_NGSP_REDIS_NODES_LEN - 1);
            buf[len] = '\0';
            return len;
        }
    }

    buf[0] = '\0';
    return 0;
}


/*
 * A master this worker is connected to, for a client that follows MOVED
 * and ASK by itself (Lua): NGX_DECLINED when none is.  host stays valid
 * until the worker exits.
 */
ngx_int_t
ngx_http_ngsp_redis_cluster_any(ngx_str_t *host, int *port)
{
    ngx_uint_t                     i;
    ngx_http_ngsp_cluster_t       *cl = ngx_http_ngsp_cluster;
    ngx_http_ngsp_cluster_node_t  *node;

    if (cl == NULL || cl->exiting) {
        return NGX_DECLINED;
    }

    for (i = 0; i < cl->nnodes; i++) {
        node = cl->nodes[i];

        if (node->serves && node->rd
            && ngx_http_ngsp_redis_ready_now(node->rd))
        {
            *host = node->conf.host;
            *port = node->conf.port;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* an IPv4 or IPv6 address as text: a host name is never resolved here */
static ngx_uint_t
ngx_http_ngsp_cluster_numeric(u_char *host, size_t len)
{
#if (NGX_HAVE_INET6)
    u_char  addr[16];   /* ngx_inet6_addr() writes as it parses */
#endif

    if (ngx_inet_addr(host, len) != INADDR_NONE) {
        return 1;
    }

#if (NGX_HAVE_INET6)
    if (len <= NGX_INET6_ADDRSTRLEN
        && ngx_inet6_addr(host, len, addr) == NGX_OK)
    {
        return 1;
    }
#endif

    return 0;
}
