/*
 * Redis Sentinel on nginx's event loop, beside the data connection.
 *
 * A worker asks the sentinels in turn, one at a time, where the master of
 * sentinel=NAME is (SENTINEL get-master-addr-by-name), each question
 * bounded by connect_timeout; the first answer moves the data connection
 * there, which checks with ROLE that it reached a master.  A round in
 * which no sentinel answers leaves the data connection's reconnect
 * backoff to ask again.
 *
 * A second connection stays subscribed to +switch-master on one sentinel,
 * so a failover moves the data connection as soon as the sentinels
 * promote a replica, rather than after the next failed reconnect.  When
 * that connection drops, the worker subscribes on the next sentinel, and
 * asks again: a switch may have passed unheard.
 *
 * Workers start on different sentinels (ngx_worker), to spread the load.
 * The sentinels' answers must be numeric addresses: hiredis would resolve
 * a name with a blocking lookup.
 */

#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include "ngx_http_ngsp_redis.h"
#include "ngx_http_ngsp_redis_sentinel.h"


#define NGX_HTTP_NGSP_SENTINEL_BACKOFF_MIN  50
#define NGX_HTTP_NGSP_SENTINEL_BACKOFF_MAX  2000


typedef struct {
    ngx_http_ngsp_redis_conf_t   *conf;
    ngx_log_t                    *log;
    ngx_http_ngsp_redis_link_t    query;
    ngx_http_ngsp_redis_link_t    sub;
    ngx_event_t                   query_timer;  /* bounds one question */
    ngx_event_t                   next;         /* posted: ask the next one */
    ngx_event_t                   sub_timer;    /* bounds subscribing, or
                                                   waits to subscribe again */
    ngx_http_ngsp_redis_addr_t   *asked;        /* the one being asked */
    ngx_uint_t                    ask;          /* the one asked next */
    ngx_uint_t                    round;        /* asked in this round */
    ngx_uint_t                    listen;       /* the one subscribed to */
    ngx_msec_t                    backoff;
    ngx_uint_t                    switches;     /* +switch-master followed */
    ngx_uint_t                    asked_at;     /* switches when asked */
    unsigned                      asking:1;
    unsigned                      quiet:1;      /* a failed round logged */
    unsigned                      sub_quiet:1;  /* a failed subscribe too */
    unsigned                      subscribed:1;
    unsigned                      exiting:1;
} ngx_http_ngsp_redis_sentinel_t;


static void ngx_http_ngsp_sentinel_attempt(
    ngx_http_ngsp_redis_sentinel_t *s);
static void ngx_http_ngsp_sentinel_next(ngx_event_t *ev);
static void ngx_http_ngsp_sentinel_query_timeout(ngx_event_t *ev);
static void ngx_http_ngsp_sentinel_query_closed(
    ngx_http_ngsp_redis_link_t *link);
static void ngx_http_ngsp_sentinel_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_http_ngsp_sentinel_auth_reply(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_ngsp_sentinel_master_reply(redisAsyncContext *ac,
    void *r, void *data);
static void ngx_http_ngsp_sentinel_subscribe(
    ngx_http_ngsp_redis_sentinel_t *s);
static void ngx_http_ngsp_sentinel_sub_timer(ngx_event_t *ev);
static void ngx_http_ngsp_sentinel_sub_closed(
    ngx_http_ngsp_redis_link_t *link);
static void ngx_http_ngsp_sentinel_message(redisAsyncContext *ac, void *r,
    void *data);
static void ngx_http_ngsp_sentinel_switch(ngx_http_ngsp_redis_sentinel_t *s,
    redisReply *msg);
static ngx_int_t ngx_http_ngsp_sentinel_queue_auth(
    ngx_http_ngsp_redis_sentinel_t *s, ngx_http_ngsp_redis_link_t *link);
static ngx_int_t ngx_http_ngsp_sentinel_addr(const char *host, size_t len,
    const char *port, size_t port_len, int *n);
static ngx_uint_t ngx_http_ngsp_sentinel_quiet(
    ngx_http_ngsp_redis_sentinel_t *s, const redisAsyncContext *ac);
static ngx_http_ngsp_redis_addr_t *ngx_http_ngsp_sentinel_of(
    const redisAsyncContext *ac);
static void ngx_http_ngsp_sentinel_stats(ngx_http_ngsp_redis_sentinel_t *s);


/* one per worker: made in init_process, freed in exit_process */
static ngx_http_ngsp_redis_sentinel_t  ngx_http_ngsp_sentinel;


/* --- interface --------------------------------------------------------- */


ngx_int_t
ngx_http_ngsp_redis_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_ngsp_redis_conf_t *rc)
{
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    ngx_memzero(s, sizeof(ngx_http_ngsp_redis_sentinel_t));

    s->conf = rc;
    s->log = cycle->log;

    s->query.log = cycle->log;
    s->query.data = s;
    s->query.closed = ngx_http_ngsp_sentinel_query_closed;

    s->sub.log = cycle->log;
    s->sub.data = s;
    s->sub.closed = ngx_http_ngsp_sentinel_sub_closed;

    s->query_timer.handler = ngx_http_ngsp_sentinel_query_timeout;
    s->query_timer.data = s;
    s->query_timer.log = cycle->log;
    s->query_timer.cancelable = 1;

    s->next.handler = ngx_http_ngsp_sentinel_next;
    s->next.data = s;
    s->next.log = cycle->log;

    s->sub_timer.handler = ngx_http_ngsp_sentinel_sub_timer;
    s->sub_timer.data = s;
    s->sub_timer.log = cycle->log;
    s->sub_timer.cancelable = 1;

    s->ask = ngx_worker % rc->addrs->nelts;
    s->listen = s->ask;

    ngx_http_ngsp_sentinel_subscribe(s);

    return NGX_OK;
}


void
ngx_http_ngsp_redis_sentinel_exit(void)
{
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    s->exiting = 1;

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    if (s->sub_timer.timer_set) {
        ngx_del_timer(&s->sub_timer);
    }

    if (s->next.posted) {
        ngx_delete_posted_event(&s->next);
    }

    if (s->query.ac) {
        redisAsyncFree(s->query.ac);
    }

    if (s->sub.ac) {
        redisAsyncFree(s->sub.ac);
    }
}


void
ngx_http_ngsp_redis_sentinel_ask(void)
{
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    if (s->asking || s->exiting || s->conf == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "ngsp sentinel ask for \"%V\"", &s->conf->sentinel_name);

    s->asking = 1;
    s->round = 0;
    s->asked_at = s->switches;

    ngx_http_ngsp_sentinel_attempt(s);
}


/* --- asking ------------------------------------------------------------ */


static void
ngx_http_ngsp_sentinel_attempt(ngx_http_ngsp_redis_sentinel_t *s)
{
    size_t                       len[3];
    const char                  *argv[3], *err;
    ngx_uint_t                   n;
    ngx_http_ngsp_redis_addr_t  *addr;

    n = s->conf->addrs->nelts;

    while (s->round < n) {
        addr = (ngx_http_ngsp_redis_addr_t *) s->conf->addrs->elts + s->ask;

        s->ask = (s->ask + 1) % n;
        s->round++;
        s->asked = addr;

        if (ngx_http_ngsp_redis_link_open(&s->query, (char *) addr->host.data,
                                          addr->port, &err)
            != NGX_OK)
        {
            if (!s->quiet) {
                ngx_log_error(NGX_LOG_WARN, s->log, 0,
                              "ngsp: redis sentinel \"%V\": cannot connect: "
                              "%s", &addr->name, err);
            }

            continue;
        }

        redisAsyncSetConnectCallback(s->query.ac,
                                     ngx_http_ngsp_sentinel_on_connect);

        argv[0] = "SENTINEL";
        argv[1] = "get-master-addr-by-name";
        argv[2] = (char *) s->conf->sentinel_name.data;
        len[0] = 8;
        len[1] = 23;
        len[2] = s->conf->sentinel_name.len;

        if (ngx_http_ngsp_sentinel_queue_auth(s, &s->query) != NGX_OK
            || redisAsyncCommandArgv(s->query.ac,
                                     ngx_http_ngsp_sentinel_master_reply,
                                     NULL, 3, argv, len)
               != REDIS_OK)
        {
            /* the closed hook goes on with the next one */
            redisAsyncFree(s->query.ac);
            return;
        }

        ngx_add_timer(&s->query_timer, s->conf->connect_timeout);
        return;
    }

    s->asking = 0;

    if (!s->quiet) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\": no sentinel named the "
                      "master; requests follow ngsp_quota_fail until one "
                      "does", &s->conf->sentinel_name);
        s->quiet = 1;
    }

    ngx_http_ngsp_redis_no_master();
}


static void
ngx_http_ngsp_sentinel_next(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_sentinel_t  *s = ev->data;

    if (s->asking && !s->exiting && s->query.ac == NULL) {
        ngx_http_ngsp_sentinel_attempt(s);
    }
}


static void
ngx_http_ngsp_sentinel_query_timeout(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_sentinel_t  *s = ev->data;

    if (s->query.ac == NULL) {
        return;
    }

    if (!s->quiet) {
        ngx_log_error(NGX_LOG_WARN, s->log, NGX_ETIMEDOUT,
                      "ngsp: redis sentinel \"%V\": no answer in %Mms",
                      &s->asked->name, s->conf->connect_timeout);
    }

    redisAsyncFree(s->query.ac);
}


/*
 * The question's connection is let go: unless answered, the next sentinel
 * is asked once hiredis is done with this one (a posted event).
 */
static void
ngx_http_ngsp_sentinel_query_closed(ngx_http_ngsp_redis_link_t *link)
{
    ngx_http_ngsp_redis_sentinel_t  *s = link->data;

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    if (s->asking && !s->exiting && !s->next.posted) {
        ngx_post_event(&s->next, &ngx_posted_events);
    }
}


static void
ngx_http_ngsp_sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    if (status == REDIS_OK || s->exiting) {
        return;
    }

    if (!ngx_http_ngsp_sentinel_quiet(s, ac)) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "ngsp: redis sentinel \"%V\": cannot connect: %s",
                      &ngx_http_ngsp_sentinel_of(ac)->name, ac->errstr);
    }
}


static void
ngx_http_ngsp_sentinel_auth_reply(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                      *reply = r;
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    if (reply == NULL || reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* the sentinel's words, never the password */
    if (!ngx_http_ngsp_sentinel_quiet(s, ac)) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\": AUTH refused: %*s",
                      &ngx_http_ngsp_sentinel_of(ac)->name,
                      (size_t) ngx_min(reply->len, 200), reply->str);
    }

    redisAsyncFree(ac);
}


static void
ngx_http_ngsp_sentinel_master_reply(redisAsyncContext *ac, void *r,
    void *data)
{
    redisReply                      *reply = r;
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    int          port;
    u_char       host[NGX_SOCKADDR_STRLEN + 1];
    redisReply  *h, *p;

    if (reply == NULL) {
        return;
    }

    if (s->query_timer.timer_set) {
        ngx_del_timer(&s->query_timer);
    }

    if (reply->type == REDIS_REPLY_NIL) {
        if (s->quiet) {
            goto next;
        }

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\" does not know a master "
                      "named \"%V\" (check sentinel= against the sentinels' "
                      "\"sentinel monitor\")", &s->asked->name,
                      &s->conf->sentinel_name);
        goto next;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (!s->quiet) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "ngsp: redis sentinel \"%V\": %*s",
                          &s->asked->name,
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        goto next;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\": unexpected reply to "
                      "get-master-addr-by-name", &s->asked->name);
        goto next;
    }

    h = reply->element[0];
    p = reply->element[1];

    if (ngx_http_ngsp_sentinel_addr(h->str, h->len, p->str, p->len, &port)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\" names the master "
                      "\"%*s\" port \"%*s\": not a numeric unicast "
                      "address and port "
                      "(set \"sentinel resolve-hostnames no\")",
                      &s->asked->name, (size_t) ngx_min(h->len, 64), h->str,
                      (size_t) ngx_min(p->len, 8), p->str);
        goto next;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "ngsp sentinel \"%V\" says %s:%d", &s->asked->name,
                   h->str, port);

    ngx_memcpy(host, h->str, h->len);
    host[h->len] = '\0';

    s->asking = 0;
    s->quiet = 0;

    /* done with this sentinel; freed once this callback returns */
    redisAsyncFree(ac);

    /*
     * a +switch-master heard while asking is newer than this answer: a
     * lagging sentinel must not move the worker back to the old master
     */
    if (s->asked_at != s->switches) {
        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "ngsp: redis sentinel \"%V\" answered after a "
                      "+switch-master: the answer is dropped",
                      &s->asked->name);
        return;
    }

    ngx_http_ngsp_redis_master((char *) host, port);
    return;

next:

    redisAsyncFree(ac);
}


/* --- listening ----------------------------------------------------------- */


static void
ngx_http_ngsp_sentinel_subscribe(ngx_http_ngsp_redis_sentinel_t *s)
{
    const char                  *argv[2], *err;
    ngx_http_ngsp_redis_addr_t  *addr;

    static size_t  len[2] = { 9, 14 };

    addr = (ngx_http_ngsp_redis_addr_t *) s->conf->addrs->elts + s->listen;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, s->log, 0,
                   "ngsp sentinel subscribe on \"%V\"", &addr->name);

    if (ngx_http_ngsp_redis_link_open(&s->sub, (char *) addr->host.data,
                                      addr->port, &err)
        != NGX_OK)
    {
        if (!s->sub_quiet) {
            ngx_log_error(NGX_LOG_WARN, s->log, 0,
                          "ngsp: redis sentinel \"%V\": cannot connect: %s",
                          &addr->name, err);
        }

        /* as if it had closed: the next sentinel, after the backoff */
        ngx_http_ngsp_sentinel_sub_closed(&s->sub);
        return;
    }

    redisAsyncSetConnectCallback(s->sub.ac, ngx_http_ngsp_sentinel_on_connect);

    argv[0] = "SUBSCRIBE";
    argv[1] = "+switch-master";

    if (ngx_http_ngsp_sentinel_queue_auth(s, &s->sub) != NGX_OK
        || redisAsyncCommandArgv(s->sub.ac, ngx_http_ngsp_sentinel_message,
                                 NULL, 2, argv, len)
           != REDIS_OK)
    {
        redisAsyncFree(s->sub.ac);
        return;
    }

    /* until subscribed; then idle for as long as the sentinel lives */
    ngx_add_timer(&s->sub_timer, s->conf->connect_timeout);
}


static void
ngx_http_ngsp_sentinel_sub_timer(ngx_event_t *ev)
{
    ngx_http_ngsp_redis_sentinel_t  *s = ev->data;

    if (s->exiting) {
        return;
    }

    if (s->sub.ac == NULL) {
        ngx_http_ngsp_sentinel_subscribe(s);
        return;
    }

    if (!s->subscribed) {
        if (!s->sub_quiet) {
            ngx_log_error(NGX_LOG_WARN, s->log, NGX_ETIMEDOUT,
                          "ngsp: redis sentinel \"%V\": no answer to "
                          "SUBSCRIBE in %Mms",
                          &ngx_http_ngsp_sentinel_of(s->sub.ac)->name,
                          s->conf->connect_timeout);
        }

        redisAsyncFree(s->sub.ac);
    }
}


/* the subscription is gone: the next sentinel, after a backoff */
static void
ngx_http_ngsp_sentinel_sub_closed(ngx_http_ngsp_redis_link_t *link)
{
    ngx_msec_t                       delay;
    ngx_http_ngsp_redis_sentinel_t  *s = link->data;

    if (s->subscribed && !s->exiting) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "ngsp: redis sentinel \"%V\": subscription lost",
                      &((ngx_http_ngsp_redis_addr_t *)
                            s->conf->addrs->elts + s->listen)->name);
    }

    /* one line for an attempt that failed, until one succeeds */
    if (!s->subscribed) {
        s->sub_quiet = 1;
    }

    s->subscribed = 0;
    ngx_http_ngsp_sentinel_stats(s);

    if (s->sub_timer.timer_set) {
        ngx_del_timer(&s->sub_timer);
    }

    if (s->exiting) {
        return;
    }

    s->listen = (s->listen + 1) % s->conf->addrs->nelts;

    delay = s->backoff ? s->backoff : NGX_HTTP_NGSP_SENTINEL_BACKOFF_MIN;
    s->backoff = ngx_min(delay * 2, NGX_HTTP_NGSP_SENTINEL_BACKOFF_MAX);

    ngx_add_timer(&s->sub_timer, delay);
}


/* SUBSCRIBE's confirmation, then each +switch-master message */
static void
ngx_http_ngsp_sentinel_message(redisAsyncContext *ac, void *r, void *data)
{
    redisReply                      *reply = r;
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    redisReply  *kind;

    if (reply == NULL || s->exiting) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        if (!s->sub_quiet) {
            ngx_log_error(NGX_LOG_ERR, s->log, 0,
                          "ngsp: redis sentinel \"%V\": SUBSCRIBE refused: "
                          "%*s", &ngx_http_ngsp_sentinel_of(ac)->name,
                          (size_t) ngx_min(reply->len, 200), reply->str);
        }

        redisAsyncFree(ac);
        return;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind = reply->element[0];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {

        if (s->sub_timer.timer_set) {
            ngx_del_timer(&s->sub_timer);
        }

        s->subscribed = 1;
        s->sub_quiet = 0;
        s->backoff = 0;
        ngx_http_ngsp_sentinel_stats(s);

        ngx_log_error(NGX_LOG_INFO, s->log, 0,
                      "ngsp: redis sentinel \"%V\": listening for "
                      "+switch-master of \"%V\"",
                      &ngx_http_ngsp_sentinel_of(ac)->name,
                      &s->conf->sentinel_name);

        /* a switch may have passed while nobody listened */
        ngx_http_ngsp_redis_sentinel_ask();
        return;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0
        && reply->element[2]->type == REDIS_REPLY_STRING)
    {
        ngx_http_ngsp_sentinel_switch(s, reply->element[2]);
    }
}


/* "name old-ip old-port new-ip new-port" */
static void
ngx_http_ngsp_sentinel_switch(ngx_http_ngsp_redis_sentinel_t *s,
    redisReply *msg)
{
    int          port;
    char        *f[5], *p, *end;
    size_t       flen[5];
    u_char       host[NGX_SOCKADDR_STRLEN + 1];
    ngx_uint_t   n;

    p = msg->str;
    end = msg->str + msg->len;

    for (n = 0; n < 5 && p < end; n++) {
        f[n] = p;

        while (p < end && *p != ' ') {
            p++;
        }

        flen[n] = p - f[n];

        if (p < end) {
            p++;
        }
    }

    if (n != 5 || p != end) {
        ngx_log_error(NGX_LOG_WARN, s->log, 0,
                      "ngsp: redis sentinel: unexpected +switch-master "
                      "message ignored");
        return;
    }

    if (flen[0] != s->conf->sentinel_name.len
        || ngx_strncmp(f[0], s->conf->sentinel_name.data, flen[0]) != 0)
    {
        return;
    }

    if (ngx_http_ngsp_sentinel_addr(f[3], flen[3], f[4], flen[4], &port)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "ngsp: redis sentinel \"%V\": +switch-master names "
                      "\"%*s\" port \"%*s\": not a numeric unicast "
                      "address and port",
                      &s->conf->sentinel_name, ngx_min(flen[3], 64), f[3],
                      ngx_min(flen[4], 8), f[4]);
        return;
    }

    ngx_memcpy(host, f[3], flen[3]);
    host[flen[3]] = '\0';

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "ngsp: redis sentinel \"%V\": +switch-master to %s:%d",
                  &s->conf->sentinel_name, host, port);

    s->switches++;

    ngx_http_ngsp_redis_master((char *) host, port);
}


/* --- helpers ------------------------------------------------------------- */


/* AUTH with sentinel_password first, when given */
static ngx_int_t
ngx_http_ngsp_sentinel_queue_auth(ngx_http_ngsp_redis_sentinel_t *s,
    ngx_http_ngsp_redis_link_t *link)
{
    size_t       len[2];
    const char  *argv[2];

    if (s->conf->sentinel_password.len == 0) {
        return NGX_OK;
    }

    argv[0] = "AUTH";
    len[0] = 4;
    argv[1] = (char *) s->conf->sentinel_password.data;
    len[1] = s->conf->sentinel_password.len;

    if (redisAsyncCommandArgv(link->ac, ngx_http_ngsp_sentinel_auth_reply,
                              NULL, 2, argv, len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * a numeric IPv4 or IPv6 unicast address (neither unspecified, multicast
 * nor broadcast) and a port from 1 to 65535
 */
static ngx_int_t
ngx_http_ngsp_sentinel_addr(const char *host, size_t len, const char *port,
    size_t port_len, int *n)
{
    u_char     text[NGX_SOCKADDR_STRLEN + 1];
    ngx_int_t  p;
    u_char     buf[sizeof(struct in6_addr)];

    if (len == 0 || len > NGX_SOCKADDR_STRLEN) {
        return NGX_ERROR;
    }

    ngx_memcpy(text, host, len);
    text[len] = '\0';

    if (inet_pton(AF_INET, (char *) text, buf) == 1) {
        /* unspecified, multicast or broadcast: no master lives there */
        if ((buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0)
            || (buf[0] & 0xf0) == 0xe0
            || (buf[0] == 255 && buf[1] == 255 && buf[2] == 255
                && buf[3] == 255))
        {
            return NGX_ERROR;
        }

    } else if (inet_pton(AF_INET6, (char *) text, buf) == 1) {
        if (buf[0] == 0xff
            || IN6_IS_ADDR_UNSPECIFIED((struct in6_addr *) buf))
        {
            return NGX_ERROR;
        }

    } else {
        return NGX_ERROR;
    }

    p = ngx_atoi((u_char *) port, port_len);

    if (p < 1 || p > 65535) {
        return NGX_ERROR;
    }

    *n = (int) p;

    return NGX_OK;
}


/* a failure of this context's kind is logged already in this outage */
static ngx_uint_t
ngx_http_ngsp_sentinel_quiet(ngx_http_ngsp_redis_sentinel_t *s,
    const redisAsyncContext *ac)
{
    return (ac == s->sub.ac) ? s->sub_quiet : s->quiet;
}


/* the sentinel a context talks to, for logs */
static ngx_http_ngsp_redis_addr_t *
ngx_http_ngsp_sentinel_of(const redisAsyncContext *ac)
{
    ngx_http_ngsp_redis_sentinel_t  *s = &ngx_http_ngsp_sentinel;

    if (ac == s->sub.ac) {
        return (ngx_http_ngsp_redis_addr_t *) s->conf->addrs->elts
               + s->listen;
    }

    return s->asked;
}


/* the slot shows the sentinel listened to, or nothing */
static void
ngx_http_ngsp_sentinel_stats(ngx_http_ngsp_redis_sentinel_t *s)
{
    u_char                       *p;
    ngx_http_ngsp_redis_addr_t   *addr;
    ngx_http_ngsp_redis_stats_t  *st;

    st = ngx_http_ngsp_redis_own_stats();

    if (st == NULL) {
        return;
    }

    p = st->sentinel;

    if (s->subscribed) {
        addr = (ngx_http_ngsp_redis_addr_t *) s->conf->addrs->elts
               + s->listen;
        p = ngx_cpymem(p, addr->name.data,
                       ngx_min(addr->name.len, sizeof(st->sentinel) - 1));
    }

    *p = '\0';
}
