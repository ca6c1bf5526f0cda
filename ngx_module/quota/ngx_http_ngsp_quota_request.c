/*
 * One quota decision per request: the access handler sends the script to
 * Redis and returns NGX_AGAIN; the reply (or the timeout, whichever comes
 * first) records the decision and runs the phases again, and the handler
 * then answers from the recorded decision.
 *
 * The command's private data is a malloc'ed record, not request memory:
 * hiredis may call it back long after the request is gone (a timeout, a
 * client that closed).  The request's pool cleanup only detaches it.
 */

#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_log.h"


#define NGX_HTTP_NGSP_QUOTA_INFLIGHT  100000


struct ngx_http_ngsp_quota_pending_s {
    ngx_http_ngsp_quota_ctx_t  *ctx;      /* NULL: nobody waits any more */
    ngx_uint_t                  eval;     /* resent as EVAL after NOSCRIPT */
};


static void ngx_http_ngsp_quota_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static ngx_uint_t ngx_http_ngsp_quota_wanted(void *privdata);
static ngx_int_t ngx_http_ngsp_quota_waiter(ngx_http_ngsp_quota_ctx_t *ctx,
    ngx_http_request_t *r);
static ngx_int_t ngx_http_ngsp_quota_send(ngx_http_request_t *r,
    ngx_http_ngsp_quota_pending_t *pd, ngx_str_t *key,
    ngsp_quota_policy_t *policy);


/* commands sent and not yet answered: bounded while Redis stalls */
static ngx_uint_t  ngx_http_ngsp_quota_inflight;


static void
ngx_http_ngsp_quota_cleanup(void *data)
{
    ngx_http_ngsp_quota_ctx_t  *ctx = data;

    if (ctx->pending) {
        ctx->pending->ctx = NULL;
        ctx->pending = NULL;
    }

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->resume.posted) {
        ngx_delete_posted_event(&ctx->resume);
    }
}


ngx_http_ngsp_quota_ctx_t *
ngx_http_ngsp_quota_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ngsp_quota_module);

    if (ctx == NULL && (r->main->internal || r->main->filter_finalize)) {

        /* an internal redirect cleared the module contexts */
        for (cln = r->main->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_ngsp_quota_cleanup) {
                ctx = cln->data;
                ngx_http_set_ctx(r->main, ctx, ngx_http_ngsp_quota_module);
                break;
            }
        }
    }

    return ctx;
}


/*
 * This worker's last "failing" line and the failures not written since,
 * apart for each way of failing (closed, open, dry run), so a burst of one
 * hides none of another.
 */
static time_t      ngx_http_ngsp_quota_fail_logged[3];
static ngx_uint_t  ngx_http_ngsp_quota_fail_quiet[3];


static ngx_int_t
ngx_http_ngsp_quota_fail(ngx_http_request_t *r, ngx_http_ngsp_quota_ctx_t *ctx,
    const char *why)
{
    u_char                          *p, tail[64];
    time_t                           now;
    ngx_uint_t                       way, quiet;
    ngx_http_ngsp_quota_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_quota_module);

    ctx->status = NGX_HTTP_NGSP_QUOTA_ERROR;
    ctx->decided = 0;

    /*
     * While Redis is down or slow, every request fails the same way: a
     * line a second per worker says so, with the count of failures not
     * written, rather than a line per request filling the disk.
     */
    now = ngx_time();
    way = lcf->dry_run ? 2 : lcf->fail_open ? 1 : 0;
    quiet = ngx_http_ngsp_quota_fail_quiet[way];

    if (now == ngx_http_ngsp_quota_fail_logged[way]) {
        ngx_http_ngsp_quota_fail_quiet[way]++;

    } else {
        p = quiet ? ngx_snprintf(tail, sizeof(tail), "; %ui more failed so "
                                 "since the last such line", quiet)
                  : tail;

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: quota: %s, failing %s%s%*s", why,
                      lcf->fail_open ? "open" : "closed",
                      lcf->dry_run ? " (dry run: let through)" : "",
                      (size_t) (p - tail), tail);

        ngx_http_ngsp_quota_fail_logged[way] = now;
        ngx_http_ngsp_quota_fail_quiet[way] = 0;
    }

    if (lcf->fail_open || lcf->dry_run) {
        ctx->rc = NGX_DECLINED;

    } else {
        ctx->rc = NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return ctx->rc;
}


/*
 * The first decision after failures: the failures the limit kept out of
 * the log since its last line are written now, so no outage's count is
 * lost and the log shows when decisions came back.
 */
static void
ngx_http_ngsp_quota_fail_flush(ngx_http_request_t *r)
{
    ngx_uint_t   way;
    static const char  *ways[] = { "closed", "open", "in a dry run" };

    for (way = 0; way < 3; way++) {
        if (ngx_http_ngsp_quota_fail_quiet[way] == 0) {
            continue;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: quota: decided again; %ui more failed %s "
                      "since the last such line",
                      ngx_http_ngsp_quota_fail_quiet[way], ways[way]);

        ngx_http_ngsp_quota_fail_quiet[way] = 0;
    }
}


static ngx_int_t
ngx_http_ngsp_quota_decide(ngx_http_request_t *r,
    ngx_http_ngsp_quota_ctx_t *ctx)
{
    ngx_str_t                        who;
    ngsp_quota_state_t              *s;
    ngx_http_ngsp_quota_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_quota_module);

    ctx->decided = 1;

    ngx_http_ngsp_quota_fail_flush(r);

    if (ctx->decision.invalid) {
        ngx_http_ngsp_quota_ignored(r, ctx);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota decision: %s, remaining %L, retry after %L",
                   ctx->decision.allowed ? "allowed" : "exceeded",
                   (long long) ctx->decision.windows[ctx->decision.tightest]
                                                     .remaining,
                   (long long) ctx->decision.retry_after);

    if (ctx->decision.allowed) {
        ctx->status = NGX_HTTP_NGSP_QUOTA_ALLOWED;
        ctx->rc = NGX_DECLINED;
        return ctx->rc;
    }

    s = &ctx->decision.windows[ctx->decision.tightest];

    /*
     * An agency is named; a key= value may be a citizen's identifier (or
     * an address), so only its length reaches the log.
     */
    if (ctx->configured) {
        who.data = ngx_pnalloc(r->pool, sizeof("(configured, B bytes)")
                                        + NGX_SIZE_T_LEN);
        if (who.data) {
            who.len = ngx_sprintf(who.data, "(configured, %uz bytes)",
                                  ctx->key.len)
                      - who.data;

        } else {
            ngx_str_set(&who, "(configured)");
        }

    } else {
        who = ngx_http_ngsp_log_escape(r->pool, &ctx->key);
    }

    ngx_log_error(lcf->log_level, r->connection->log, 0,
                  "ngsp: quota exceeded%s: key %s%V%s, policy \"%s\", "
                  "window %s limit %L, retry after %Ls",
                  lcf->dry_run ? " (dry run)" : "",
                  ctx->configured ? "" : "\"", &who,
                  ctx->configured ? "" : "\"", ctx->policy->name,
                  ngsp_quota_unit_name(s->unit), (long long) s->limit,
                  (long long) ctx->decision.retry_after);

    if (lcf->dry_run) {
        ctx->status = NGX_HTTP_NGSP_QUOTA_DRY_RUN;
        ctx->rc = NGX_DECLINED;

    } else {
        ctx->status = NGX_HTTP_NGSP_QUOTA_REJECTED;
        ctx->rc = lcf->status;
    }

    return ctx->rc;
}


/* posts every other request that waits for this decision, once */
static void
ngx_http_ngsp_quota_wake(ngx_http_ngsp_quota_ctx_t *ctx)
{
    ngx_uint_t                   i;
    ngx_http_posted_request_t  **w;

    if (ctx->waiters == NULL) {
        return;
    }

    w = ctx->waiters->elts;

    for (i = 0; i < ctx->waiters->nelts; i++) {
        (void) ngx_http_post_request(w[i]->request, w[i]);
    }

    ctx->waiters->nelts = 0;
}


/*
 * Another part of the request (a subrequest, or the main request while a
 * subrequest counts) waits for the decision under way; its posted-request
 * record is made now, so that waking it cannot fail.
 */
static ngx_int_t
ngx_http_ngsp_quota_wait(ngx_http_request_t *r, ngx_http_ngsp_quota_ctx_t *ctx)
{
    ngx_http_posted_request_t  **w, *pr;

    if (ngx_http_ngsp_quota_waiter(ctx, r) != NGX_DECLINED) {
        return NGX_OK;
    }

    if (ctx->waiters == NULL) {
        ctx->waiters = ngx_array_create(r->pool, 4,
                                        sizeof(ngx_http_posted_request_t *));
        if (ctx->waiters == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota waits for the decision under way");

    pr = ngx_palloc(r->pool, sizeof(ngx_http_posted_request_t));
    if (pr == NULL) {
        return NGX_ERROR;
    }

    w = ngx_array_push(ctx->waiters);
    if (w == NULL) {
        return NGX_ERROR;
    }

    pr->request = r;
    pr->next = NULL;
    *w = pr;

    return NGX_OK;
}


/* a waiter that takes the decision before it is woken is not woken */
static void
ngx_http_ngsp_quota_unwait(ngx_http_request_t *r,
    ngx_http_ngsp_quota_ctx_t *ctx)
{
    ngx_int_t                    i;
    ngx_http_posted_request_t  **w;

    i = ngx_http_ngsp_quota_waiter(ctx, r);

    if (i != NGX_DECLINED) {
        w = ctx->waiters->elts;
        w[i] = w[--ctx->waiters->nelts];
    }
}


/* the index of r among the waiters, or NGX_DECLINED */
static ngx_int_t
ngx_http_ngsp_quota_waiter(ngx_http_ngsp_quota_ctx_t *ctx,
    ngx_http_request_t *r)
{
    ngx_uint_t                   i;
    ngx_http_posted_request_t  **w;

    if (ctx->waiters == NULL) {
        return NGX_DECLINED;
    }

    w = ctx->waiters->elts;

    for (i = 0; i < ctx->waiters->nelts; i++) {
        if (w[i]->request == r) {
            return i;
        }
    }

    return NGX_DECLINED;
}


/*
 * Runs the phases again where the waiting requests left them: the main
 * request at once, subrequests through the posted requests.
 */
static void
ngx_http_ngsp_quota_resume(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_ngsp_quota_wake(ctx);

    if (r == r->main) {
        ngx_http_set_log_request(c->log, r);

        r->read_event_handler = ngx_http_block_reading;

        ngx_http_core_run_phases(r);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_ngsp_quota_timeout(ngx_event_t *ev)
{
    ngx_http_request_t         *r;
    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota redis timed out");

    /* the command stays queued; its reply will find nobody */
    if (ctx->pending) {
        ctx->pending->ctx = NULL;
        ctx->pending = NULL;
    }

    ctx->waiting = 0;

    ngx_http_ngsp_redis_timed_out();

    ngx_http_ngsp_quota_fail(r, ctx, "redis timed out");
    ngx_http_ngsp_quota_resume(&ctx->resume);
}


/* the offset the calendar windows are counted in */
static long
ngx_http_ngsp_quota_tz(ngx_http_request_t *r)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    return (long) mcf->tz;
}


static void
ngx_http_ngsp_quota_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    redisReply                     *reply = r;
    ngx_http_ngsp_quota_pending_t  *pd = privdata;

    ngx_http_ngsp_quota_ctx_t  *ctx;

    ctx = pd->ctx;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP,
                   ctx ? ctx->request->connection->log : ngx_cycle->log, 0,
                   "ngsp quota reply type %d%s%s",
                   reply ? reply->type : -1, ctx ? "" : ", nobody waits",
                   pd->eval ? ", after EVAL" : "");

    if (ctx == NULL || ngx_http_ngsp_redis_exiting()) {
        if (ctx) {
            ctx->pending = NULL;
        }

        ngx_http_ngsp_quota_inflight--;
        ngx_free(pd);
        return;
    }

    /* a restarted Redis or SCRIPT FLUSH: send the script itself once */
    if (reply && reply->type == REDIS_REPLY_ERROR && !pd->eval
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "ngsp quota script not loaded: sending it");

        pd->eval = 1;

        if (ngx_http_ngsp_quota_send(ctx->request, pd, &ctx->key, ctx->policy)
            == NGX_OK)
        {
            return;
        }

        reply = NULL;
    }

    ctx->pending = NULL;
    ctx->waiting = 0;

    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (reply == NULL) {
        ngx_http_ngsp_quota_fail(ctx->request, ctx, "redis connection failed");

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "ngsp: quota: redis said: %*s",
                      (size_t) ngx_min(reply->len, 200), reply->str);
        ngx_http_ngsp_quota_fail(ctx->request, ctx, "redis error");

    } else if (reply->type != REDIS_REPLY_STRING
               || ngsp_quota_reply_parse((u_char *) reply->str, reply->len,
                                         ctx->policy,
                                         ngx_http_ngsp_quota_tz(ctx->request),
                                         &ctx->decision)
                  != 0)
    {
        ngx_http_ngsp_quota_fail(ctx->request, ctx, "unexpected redis reply");

    } else {
        /* decided in the handler, in the request's own context */
        ctx->rc = NGX_AGAIN;
    }

    ngx_http_ngsp_quota_inflight--;
    ngx_free(pd);

    /* out of hiredis's read handler before the request moves on */
    ngx_post_event(&ctx->resume, &ngx_posted_events);
}


/* a request that timed out or went away sends its command nowhere else */
static ngx_uint_t
ngx_http_ngsp_quota_wanted(void *privdata)
{
    ngx_http_ngsp_quota_pending_t  *pd = privdata;

    return pd->ctx != NULL;
}


/*
 * Builds the command and queues it on the worker's Redis connection (in a
 * cluster, that of the master serving the agency's slot).  The
 * usual EVALSHA is built on the stack (hiredis copies it); the EVAL that
 * follows a NOSCRIPT carries the script and is built in a heap buffer.
 */
static ngx_int_t
ngx_http_ngsp_quota_send(ngx_http_request_t *r,
    ngx_http_ngsp_quota_pending_t *pd, ngx_str_t *key,
    ngsp_quota_policy_t *policy)
{
    u_char                           *cmd;
    size_t                            tag_len, len, size;
    ngx_int_t                         rc;
    ngx_http_ngsp_quota_main_conf_t  *mcf;
    char                              tag[NGSP_QUOTA_TAG_MAX + 1];
    u_char                            buf[NGSP_QUOTA_CMD_MAX];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    tag_len = ngsp_quota_tag(key->data, key->len, tag);
    if (tag_len == 0) {
        return NGX_ERROR;
    }

    cmd = buf;
    size = sizeof(buf);

    if (pd->eval) {
        size += ngsp_quota_script_len;
        cmd = ngx_alloc(size, r->connection->log);
        if (cmd == NULL) {
            return NGX_ERROR;
        }
    }

    len = ngsp_quota_command(cmd, size, pd->eval ? NULL : mcf->sha1, tag,
                             tag_len, policy, (long) mcf->tz);

    /* every key of the command is in the slot of the agency's tag */
    rc = len ? ngx_http_ngsp_redis_command_slot(ngx_http_ngsp_quota_reply,
                                                ngx_http_ngsp_quota_wanted, pd,
                                                ngsp_quota_slot(tag, tag_len),
                                                cmd, len)
             : NGX_ERROR;

    if (cmd != buf) {
        ngx_free(cmd);
    }

    return rc;
}


static ngx_int_t
ngx_http_ngsp_quota_key(ngx_http_request_t *r,
    ngx_http_ngsp_quota_loc_conf_t *lcf, ngx_str_t *key)
{
    ngx_http_ngsp_jwt_ctx_t  *jwt;

    if (lcf->key) {
        return ngx_http_complex_value(r, lcf->key, key);
    }

    jwt = ngx_http_ngsp_jwt_eval(r);
    if (jwt == NULL) {
        return NGX_ERROR;
    }

    /* the agency of a valid token only */
    if (jwt->status == NGSP_JWT_OK) {
        *key = jwt->agency;

    } else {
        ngx_str_null(key);
    }

    return NGX_OK;
}


#if (NGX_DEBUG)

/*
 * The key in a debug line: the agency of a token escaped as the refusal
 * logs it; a configured key may carry a personal identifier, so only
 * its length.
 */
static void
ngx_http_ngsp_quota_debug_key(ngx_http_request_t *r,
    ngx_http_ngsp_quota_loc_conf_t *lcf, ngx_str_t *key)
{
    ngx_str_t  who;

    if ((r->connection->log->log_level & NGX_LOG_DEBUG_HTTP) == 0) {
        return;
    }

    if (lcf->key) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp quota key: configured, %uz bytes", key->len);
        return;
    }

    who = ngx_http_ngsp_log_escape(r->pool, key);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota key: agency \"%V\"", &who);
}

#endif


/*
 * Sends the command for the first part of the request to be counted:
 * NGX_AGAIN while it waits for the reply, NGX_DECLINED when there is
 * nothing to count by, or the answer of a failure.
 */
static ngx_int_t
ngx_http_ngsp_quota_start(ngx_http_request_t *r,
    ngx_http_ngsp_quota_loc_conf_t *lcf)
{
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_pool_cleanup_t             *cln;
    ngx_http_ngsp_quota_ctx_t      *ctx;
    ngx_http_ngsp_quota_pending_t  *pd;

    if (ngx_http_ngsp_quota_key(r, lcf, &key) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nothing to count by: not counted, like limit_req */
    if (key.len == 0) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ngsp quota no key: not counted");
        return NGX_DECLINED;
    }

#if (NGX_DEBUG)
    ngx_http_ngsp_quota_debug_key(r, lcf, &key);
#endif

    /* the main request's pool: subrequests share it */
    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_ngsp_quota_ctx_t));
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_ngsp_quota_ctx_t));
    cln->handler = ngx_http_ngsp_quota_cleanup;

    ctx->request = r;
    ctx->policy = lcf->policy;
    ctx->key = key;
    ctx->configured = (lcf->key != NULL);

    ctx->timer.handler = ngx_http_ngsp_quota_timeout;
    ctx->timer.data = ctx;
    ctx->timer.log = r->connection->log;

    ctx->resume.handler = ngx_http_ngsp_quota_resume;
    ctx->resume.data = ctx;
    ctx->resume.log = r->connection->log;

    /* one count per main request, whichever part of it comes first */
    ngx_http_set_ctx(r->main, ctx, ngx_http_ngsp_quota_module);

    if (ngx_http_ngsp_quota_inflight >= NGX_HTTP_NGSP_QUOTA_INFLIGHT) {
        return ngx_http_ngsp_quota_fail(r, ctx, "too many commands waiting "
                                        "for redis");
    }

    pd = ngx_alloc(sizeof(ngx_http_ngsp_quota_pending_t), r->connection->log);
    if (pd == NULL) {
        return ngx_http_ngsp_quota_fail(r, ctx, "cannot build the command");
    }

    pd->ctx = NULL;
    pd->eval = 0;

    rc = ngx_http_ngsp_quota_send(r, pd, &ctx->key, lcf->policy);

    if (rc != NGX_OK) {
        ngx_free(pd);
        return ngx_http_ngsp_quota_fail(r, ctx, rc == NGX_ERROR
                                        ? "cannot build the command"
                                        : "redis not connected");
    }

    ngx_http_ngsp_quota_inflight++;

    pd->ctx = ctx;
    ctx->pending = pd;
    ctx->waiting = 1;

    ngx_add_timer(&ctx->timer, lcf->timeout);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota command sent, policy \"%s\", waiting %Mms",
                   lcf->policy->name, lcf->timeout);

    if (r == r->main) {
        /* notice a client that goes away while we wait */
        r->read_event_handler = ngx_http_test_reading;
    }

    return NGX_AGAIN;
}


ngx_int_t
ngx_http_ngsp_quota_handler(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_ngsp_quota_ctx_t       *ctx;
    ngx_http_ngsp_quota_loc_conf_t  *lcf;

    /* a subrequest is counted in its rewrite phase */
    if (r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota handler, %s%s", ctx ? "again" : "first",
                   ctx && ctx->waiting ? ", still waiting" : "");

    if (ctx) {
        if (ctx->waiting) {
            /*
             * the client's write event woke the phases: keep waiting; or a
             * subrequest counts, and this request waits for its answer
             */
            if (r != ctx->request
                && ngx_http_ngsp_quota_wait(r, ctx) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return NGX_AGAIN;
        }

        /*
         * the result is taken now: a resume still posted must not run the
         * phases again once the request has moved on past this one; the
         * others it would have woken are woken here
         */
        ngx_http_ngsp_quota_unwait(r, ctx);

        if (ctx->resume.posted) {
            ngx_delete_posted_event(&ctx->resume);
            ngx_http_ngsp_quota_wake(ctx);
        }

        /*
         * an internal redirect after the answer: counted once, answered
         * once.  Before it (a redirect led here and Redis failed while we
         * waited), the answer stands: fail closed means closed.
         */
        if (ctx->answered && r->internal) {
            return NGX_DECLINED;
        }

        ctx->answered = 1;

        if (ctx->rc == NGX_AGAIN) {
            return ngx_http_ngsp_quota_decide(r, ctx);
        }

        return ctx->rc;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_quota_module);

    if (lcf->policy == NULL) {
        return NGX_DECLINED;
    }

    rc = ngx_http_ngsp_quota_start(r, lcf);

    if (rc != NGX_AGAIN) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_quota_module);
        if (ctx) {
            ctx->answered = 1;
        }
    }

    return rc;
}


/*
 * Whether the main request has yet to reach its own quota handler (it
 * waits in its access phase for a subrequest of auth_request): that
 * handler then answers the client from the decision, with the quota's own
 * status, where auth_request would turn a refused subrequest into a 500.
 */
static ngx_uint_t
ngx_http_ngsp_quota_main_ahead(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_request_t         *mr;
    ngx_http_phase_handler_t   *ph;
    ngx_http_core_main_conf_t  *cmcf;

    mr = r->main;

    if (mr->write_event_handler != ngx_http_core_run_phases) {
        return 0;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    ph = cmcf->phase_engine.handlers;

    for (i = mr->phase_handler; ph[i].checker; i++) {
        if (ph[i].handler == ngx_http_ngsp_quota_handler) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_ngsp_quota_subrequest(ngx_http_request_t *r)
{
    ngx_int_t                        rc;
    ngx_http_ngsp_quota_ctx_t       *ctx;
    ngx_http_ngsp_quota_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_ngsp_quota_module);

    if (lcf->policy == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ngsp_quota_get_ctx(r);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp quota subrequest, %s%s", ctx ? "again" : "first",
                   ctx && ctx->waiting ? ", still waiting" : "");

    if (ctx == NULL) {
        rc = ngx_http_ngsp_quota_start(r, lcf);

        ctx = ngx_http_get_module_ctx(r->main, ngx_http_ngsp_quota_module);

        if (ctx == NULL) {
            /* not counted (nothing to count by), or an error */
            return rc;
        }
    }

    if (ctx->waiting) {
        if (ngx_http_ngsp_quota_wait(r, ctx) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_DONE;
    }

    ngx_http_ngsp_quota_unwait(r, ctx);

    if (ctx->rc == NGX_AGAIN) {
        (void) ngx_http_ngsp_quota_decide(r, ctx);
    }

    if (ctx->rc == NGX_DECLINED || ngx_http_ngsp_quota_main_ahead(r)) {
        return NGX_DECLINED;
    }

    return ctx->rc;
}
