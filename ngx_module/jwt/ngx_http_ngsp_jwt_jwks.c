/*
 * Keys fetched from the issuer's JWKS through a subrequest to a location
 * the sysadmin configures (nginx does the HTTP, TLS and timeouts).  The
 * last good JWKS text lives in shared memory with its generation; each
 * worker parses it into its own key set (file keys first) when the
 * generation changes.  One worker at a time fetches, under a lease with an
 * expiry; the others verify with the set they have meanwhile.
 */

#include "ngx_http_ngsp_jwt.h"


/* the longest JWKS kept; a longer answer is refused */
#define NGX_HTTP_NGSP_JWKS_MAX    (1024 * 1024)
#define NGX_HTTP_NGSP_JWKS_ZONE   (NGX_HTTP_NGSP_JWKS_MAX + 256 * 1024)

/* a fetch that neither ends nor fails frees its lease after this */
#define NGX_HTTP_NGSP_JWKS_LEASE  60

/* a failed fetch is retried after 1 s, 2 s, 4 s ... up to this */
#define NGX_HTTP_NGSP_JWKS_BACKOFF_MAX  300


typedef enum {
    NGX_HTTP_NGSP_JWKS_NONE = 0,
    NGX_HTTP_NGSP_JWKS_OK,
    NGX_HTTP_NGSP_JWKS_STATUS,
    NGX_HTTP_NGSP_JWKS_TIMEOUT,
    NGX_HTTP_NGSP_JWKS_JUNK,
    NGX_HTTP_NGSP_JWKS_REFUSED,
    NGX_HTTP_NGSP_JWKS_TOO_LARGE,
    NGX_HTTP_NGSP_JWKS_ERROR
} ngx_http_ngsp_jwks_result_e;


static const char  *ngx_http_ngsp_jwks_results[] = {
    "none", "ok", "status", "timeout", "junk", "refused", "too_large",
    "error"
};


typedef struct {
    ngx_atomic_t        generation;    /* of text; 0: never fetched */
    time_t              fetched;       /* when text was fetched */
    time_t              attempted;     /* when the last fetch began */
    time_t              next;          /* backoff: no fetch before */
    ngx_uint_t          failures;      /* in a row */
    ngx_pid_t           lease_pid;     /* the fetching worker, or 0 */
    time_t              lease_until;
    ngx_uint_t          result;
    size_t              error_len;
    u_char              error[256];
    size_t              len;
    u_char              text[NGX_HTTP_NGSP_JWKS_MAX];
} ngx_http_ngsp_jwks_sh_t;


/* this worker's parsed set and the fetch it runs, if any */
typedef struct {
    ngsp_jwt_keyset_t   *keyset;       /* file keys + fetched, or NULL */
    ngx_atomic_uint_t    generation;   /* of the text it was built from */
    time_t               fetched;      /* 0: no fetched keys in it */

    ngx_http_request_t  *parent;
    ngx_http_request_t  *sr;
    u_char              *buf;
    size_t               len;
    ngx_int_t            rc;
    ngx_uint_t           status;
    unsigned             too_large:1;
    unsigned             done:1;
} ngx_http_ngsp_jwks_worker_t;


static ngx_http_ngsp_jwks_worker_t  ngx_http_ngsp_jwks_worker;

static ngx_http_output_body_filter_pt  ngx_http_next_body_filter;


static ngx_int_t
ngx_http_ngsp_jwks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t          *shpool;
    ngx_http_ngsp_jwks_sh_t  *sh;

    /* a reload keeps the fetched set and its generation */
    if (data) {
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_ngsp_jwks_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, offsetof(ngx_http_ngsp_jwks_sh_t, text));

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


char *
ngx_http_ngsp_jwks_conf(ngx_conf_t *cf, ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_str_t  name = ngx_string("ngsp_jwks");

    mcf->jwks_zone = ngx_shared_memory_add(cf, &name,
                                           NGX_HTTP_NGSP_JWKS_ZONE,
                                           &ngx_http_ngsp_module);
    if (mcf->jwks_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->jwks_zone->init = ngx_http_ngsp_jwks_init_zone;

    mcf->jwks_source.len = sizeof("jwks:") - 1 + mcf->jwks_uri.len;
    mcf->jwks_source.data = ngx_pnalloc(cf->pool, mcf->jwks_source.len + 1);
    if (mcf->jwks_source.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(mcf->jwks_source.data, "jwks:%V%Z", &mcf->jwks_uri);

    return NGX_CONF_OK;
}


/* --- this worker's key set --------------------------------------------- */


ngx_uint_t
ngx_http_ngsp_jwks_sync(ngx_http_ngsp_main_conf_t *mcf, ngx_log_t *log)
{
    u_char                       *text;
    size_t                        len;
    time_t                        now, fetched;
    ngx_slab_pool_t              *shpool;
    ngx_atomic_uint_t             gen;
    ngsp_jwt_keyset_t            *ks;
    ngx_http_ngsp_jwks_sh_t      *sh;
    ngx_http_ngsp_jwks_worker_t  *w;
    char                          err[256];

    w = &ngx_http_ngsp_jwks_worker;

    if (mcf->jwks_zone == NULL || mcf->jwks_zone->data == NULL) {
        return 0;
    }

    sh = mcf->jwks_zone->data;
    shpool = (ngx_slab_pool_t *) mcf->jwks_zone->shm.addr;
    now = ngx_time();

    gen = sh->generation;

    if (gen == w->generation
        && (w->fetched == 0 || now - w->fetched <= mcf->jwks_stale))
    {
        return 0;
    }

    text = NULL;
    len = 0;
    fetched = 0;

    if (gen != w->generation) {

        /* copied under the lock, parsed outside it */
        ngx_shmtx_lock(&shpool->mutex);

        gen = sh->generation;
        fetched = sh->fetched;
        len = sh->len;

        if (len && now - fetched <= mcf->jwks_stale) {
            text = ngx_alloc(len, log);
            if (text) {
                ngx_memcpy(text, sh->text, len);
            }
        }

        ngx_shmtx_unlock(&shpool->mutex);

        if (len && text == NULL && now - fetched <= mcf->jwks_stale) {
            /* out of memory: the next request tries again */
            return 0;
        }
    }

    ks = ngsp_jwt_keyset_new();
    if (ks == NULL
        || ngsp_jwt_keyset_copy(ks, mcf->file_keyset, err, sizeof(err)) != 0)
    {
        ngsp_jwt_keyset_free(ks);
        ngx_free(text);
        return 0;
    }

    if (text) {
        if (ngsp_jwt_keyset_add_jwks(ks, text, len,
                                     (char *) mcf->jwks_source.data,
                                     err, sizeof(err))
            < 0)
        {
            /* it passed the same checks when fetched */
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "ngsp: jwks from \"%V\" no longer loads: %s",
                          &mcf->jwks_uri, err);
            fetched = 0;
        }

        ngx_free(text);

    } else {
        if (w->fetched) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "ngsp: jwks from \"%V\" fetched %T s ago is "
                          "past stale=, its keys are dropped",
                          &mcf->jwks_uri, now - w->fetched);
        }

        fetched = 0;
    }

    if (w->keyset) {
        ngsp_jwt_keyset_free(w->keyset);
    }

    w->keyset = ks;
    w->generation = gen;
    w->fetched = fetched;
    mcf->keyset = ks;

    /* nothing verified under the previous set is remembered */
    ngx_http_ngsp_jwt_keys_changed();

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "ngsp jwks generation %uA, %uz keys", gen,
                   ngsp_jwt_keyset_count(ks));

    return 1;
}


ngx_uint_t
ngx_http_ngsp_jwks_usable(void)
{
    return ngx_http_ngsp_jwks_worker.fetched != 0;
}


/* --- the fetch --------------------------------------------------------- */


static ngx_int_t
ngx_http_ngsp_jwks_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    /* called again for an error page's finalization: the first counts */
    if (w->sr == sr && !w->done) {
        w->done = 1;
        w->rc = rc;
        w->status = sr->headers_out.status;
    }

    return rc;
}


/* the subrequest's answer is kept here, not sent anywhere */
static ngx_int_t
ngx_http_ngsp_jwks_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    size_t                        n;
    ngx_buf_t                    *b;
    ngx_chain_t                  *cl;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    if (w->sr == NULL || r != w->sr) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            n = b->last - b->pos;

            if (w->len + n > NGX_HTTP_NGSP_JWKS_MAX) {
                w->too_large = 1;

            } else if (w->buf && n) {
                ngx_memcpy(w->buf + w->len, b->pos, n);
                w->len += n;
            }

            b->pos = b->last;
        }

        if (b->in_file) {
            /* filter_need_in_memory makes the copy filter read files */
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}


static void
ngx_http_ngsp_jwks_release(ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_slab_pool_t              *shpool;
    ngx_http_ngsp_jwks_sh_t      *sh;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    sh = mcf->jwks_zone->data;
    shpool = (ngx_slab_pool_t *) mcf->jwks_zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    if (sh->lease_pid == ngx_pid) {
        sh->lease_pid = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_free(w->buf);
    w->buf = NULL;
    w->sr = NULL;
    w->parent = NULL;
}


/* the client went away while its fetch ran */
static void
ngx_http_ngsp_jwks_cleanup(void *data)
{
    ngx_http_request_t           *r = data;
    ngx_http_ngsp_main_conf_t    *mcf;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    if (w->parent != r) {
        return;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    ngx_http_ngsp_jwks_release(mcf);
}


static ngx_int_t
ngx_http_ngsp_jwks_start(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_list_t                   *headers;
    ngx_pool_cleanup_t           *cln;
    ngx_http_request_t           *sr;
    ngx_http_post_subrequest_t   *ps;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    headers = ngx_list_create(r->pool, 1, sizeof(ngx_table_elt_t));
    w->buf = ngx_alloc(NGX_HTTP_NGSP_JWKS_MAX, r->connection->log);

    if (ps == NULL || cln == NULL || headers == NULL || w->buf == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_ngsp_jwks_done;
    ps->data = NULL;

    if (ngx_http_subrequest(r, &mcf->jwks_uri, NULL, &sr, ps,
                            NGX_HTTP_SUBREQUEST_WAITED)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * The fetch carries nothing of the client: no header (Authorization,
     * Cookie, Host), no body, no arguments, whatever the location passes.
     */
    ngx_memzero(&sr->headers_in, sizeof(ngx_http_headers_in_t));

    sr->headers_in.headers = *headers;
    sr->headers_in.content_length_n = -1;
    sr->headers_in.keep_alive_n = -1;
    sr->request_body = NULL;
    sr->filter_need_in_memory = 1;

    cln->handler = ngx_http_ngsp_jwks_cleanup;
    cln->data = r;

    w->parent = r;
    w->sr = sr;
    w->len = 0;
    w->rc = NGX_OK;
    w->status = 0;
    w->too_large = 0;
    w->done = 0;

    return NGX_OK;
}


/* the fetch's answer judged, stored for every worker when good */
static void
ngx_http_ngsp_jwks_finish(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf)
{
    int                           n;
    time_t                        now, backoff, age;
    ngx_uint_t                    result, status, i;
    ngx_slab_pool_t              *shpool;
    ngsp_jwt_keyset_t            *ks;
    ngx_http_ngsp_jwks_sh_t      *sh;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;
    char                          err[256];

    sh = mcf->jwks_zone->data;
    shpool = (ngx_slab_pool_t *) mcf->jwks_zone->shm.addr;
    now = ngx_time();
    err[0] = '\0';

    status = (w->rc >= NGX_HTTP_SPECIAL_RESPONSE) ? (ngx_uint_t) w->rc
                                                  : w->status;

    if (status == NGX_HTTP_GATEWAY_TIME_OUT) {
        result = NGX_HTTP_NGSP_JWKS_TIMEOUT;
        ngx_snprintf((u_char *) err, sizeof(err), "timed out (status 504)%Z");

    } else if (w->rc == NGX_ERROR || status == 0) {
        result = NGX_HTTP_NGSP_JWKS_ERROR;
        ngx_snprintf((u_char *) err, sizeof(err), "the subrequest failed%Z");

    } else if (status != NGX_HTTP_OK) {
        result = NGX_HTTP_NGSP_JWKS_STATUS;
        ngx_snprintf((u_char *) err, sizeof(err), "status %ui%Z", status);

    } else if (w->too_large) {
        result = NGX_HTTP_NGSP_JWKS_TOO_LARGE;
        ngx_snprintf((u_char *) err, sizeof(err), "answer larger than %uz "
                     "bytes%Z", (size_t) NGX_HTTP_NGSP_JWKS_MAX);

    } else {
        ks = ngsp_jwt_keyset_new();
        if (ks == NULL) {
            ngx_http_ngsp_jwks_release(mcf);
            return;
        }

        n = ngsp_jwt_keyset_add_jwks(ks, w->buf, w->len,
                                     (char *) mcf->jwks_source.data,
                                     err, sizeof(err));
        ngsp_jwt_keyset_free(ks);

        if (n > 0) {
            result = NGX_HTTP_NGSP_JWKS_OK;

        } else if (ngx_strstr(err, "not valid JSON")
                   || ngx_strstr(err, "not a JWKS")
                   || ngx_strstr(err, "neither a JWKS")
                   || ngx_strstr(err, "no signature verification key"))
        {
            result = NGX_HTTP_NGSP_JWKS_JUNK;

        } else {
            /* a private key, a short RSA or HMAC key, a curve, ... */
            result = NGX_HTTP_NGSP_JWKS_REFUSED;
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    sh->result = result;
    age = sh->generation ? now - sh->fetched : -1;

    if (result == NGX_HTTP_NGSP_JWKS_OK) {
        ngx_memcpy(sh->text, w->buf, w->len);
        sh->len = w->len;
        sh->fetched = now;
        sh->failures = 0;
        sh->next = 0;
        sh->error_len = 0;
        sh->generation++;

    } else {
        sh->failures++;

        for (backoff = 1, i = 1;
             i < sh->failures && backoff < NGX_HTTP_NGSP_JWKS_BACKOFF_MAX;
             i++)
        {
            backoff *= 2;
        }

        sh->next = now + ngx_min(backoff, NGX_HTTP_NGSP_JWKS_BACKOFF_MAX);
        sh->error_len = ngx_min(ngx_strlen(err), sizeof(sh->error));
        ngx_memcpy(sh->error, err, sh->error_len);
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (result == NGX_HTTP_NGSP_JWKS_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ngsp: jwks fetched from \"%V\", %uz bytes",
                      &mcf->jwks_uri, w->len);

    } else if (age >= 0 && age <= mcf->jwks_stale) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: jwks fetch from \"%V\" failed: %s: %s; "
                      "the set fetched %T s ago is kept",
                      &mcf->jwks_uri, ngx_http_ngsp_jwks_results[result],
                      err, age);

    } else {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: jwks fetch from \"%V\" failed: %s: %s; "
                      "no fetched keys are at hand",
                      &mcf->jwks_uri, ngx_http_ngsp_jwks_results[result],
                      err);
    }

    ngx_http_ngsp_jwks_release(mcf);

    (void) ngx_http_ngsp_jwks_sync(mcf, r->connection->log);
}


/*
 * Before the token is judged: NGX_AGAIN while this request's fetch runs,
 * NGX_DONE when it has just ended (the token is judged again), NGX_OK.
 */
ngx_int_t
ngx_http_ngsp_jwks_before(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf, ngx_http_ngsp_jwt_ctx_t *ctx)
{
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    if (ctx && ctx->jwks == NGX_HTTP_NGSP_JWKS_FETCHING) {
        if (w->parent == r && !w->done) {
            return NGX_AGAIN;
        }

        if (w->parent == r) {
            ngx_http_ngsp_jwks_finish(r, mcf);
        }

        ctx->jwks = NGX_HTTP_NGSP_JWKS_FETCHED;
        ctx->conf = NULL;
        return NGX_DONE;
    }

    /*
     * A set another worker fetched is taken up by ngx_http_ngsp_jwt_eval,
     * which also verifies again a token verified under an earlier set.
     */
    return NGX_OK;
}


/*
 * After the token is judged: a fetch is started when the set is due
 * (valid= passed, or none yet) or the token names a kid not in it (at
 * most once per refresh_unknown=); the request waits for it (NGX_AGAIN).
 */
ngx_int_t
ngx_http_ngsp_jwks_after(ngx_http_request_t *r,
    ngx_http_ngsp_main_conf_t *mcf, ngx_http_ngsp_jwt_ctx_t *ctx)
{
    time_t                        now;
    ngx_pid_t                     gone;
    ngx_uint_t                    go, due, unknown;
    ngx_slab_pool_t              *shpool;
    ngx_http_ngsp_jwks_sh_t      *sh;
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    /* no token, or one that is not a JWS, needs no keys */
    if (r != r->main || ctx->jwks != NGX_HTTP_NGSP_JWKS_IDLE
        || ctx->token.len == 0 || ctx->verified == NGSP_JWT_MALFORMED
        || w->sr != NULL || mcf->jwks_zone->data == NULL)
    {
        return NGX_OK;
    }

    sh = mcf->jwks_zone->data;
    shpool = (ngx_slab_pool_t *) mcf->jwks_zone->shm.addr;
    now = ngx_time();

    unknown = (ctx->verified == NGSP_JWT_UNKNOWN_KEY
               || ctx->verified == NGSP_JWT_KEYS_UNAVAILABLE);

    go = 0;
    gone = 0;

    ngx_shmtx_lock(&shpool->mutex);

    due = now >= sh->next
          && (sh->generation == 0 || now - sh->fetched >= mcf->jwks_valid
              || (unknown && now - sh->attempted >= mcf->jwks_unknown));

    /*
     * A worker that died while fetching (a crash, SIGKILL) never frees its
     * lease: another worker takes it over at once rather than waiting out
     * the lease with no fetch running.  A pid reused since costs no more
     * than the wait.
     */
    if (due && sh->lease_pid && sh->lease_pid != ngx_pid
        && now < sh->lease_until
        && kill(sh->lease_pid, 0) == -1 && ngx_errno == NGX_ESRCH)
    {
        gone = sh->lease_pid;
        sh->lease_pid = 0;
    }

    if (due && (sh->lease_pid == 0 || now >= sh->lease_until)) {
        sh->lease_pid = ngx_pid;
        sh->lease_until = now + NGX_HTTP_NGSP_JWKS_LEASE;
        sh->attempted = now;
        go = 1;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    if (gone) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ngsp: the worker fetching the jwks from \"%V\" "
                      "(pid %P) is gone; its fetch is given up",
                      &mcf->jwks_uri, gone);
    }

    if (!go) {
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ngsp jwks fetch, unknown kid: %ui", unknown);

    if (ngx_http_ngsp_jwks_start(r, mcf) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ngsp: cannot start the jwks fetch from \"%V\"",
                      &mcf->jwks_uri);
        ngx_http_ngsp_jwks_release(mcf);
        return NGX_OK;
    }

    ctx->jwks = NGX_HTTP_NGSP_JWKS_FETCHING;

    return NGX_AGAIN;
}


/* the fetch subrequest runs unchecked: it carries no token */
ngx_uint_t
ngx_http_ngsp_jwks_is_fetch(ngx_http_request_t *r)
{
    return ngx_http_ngsp_jwks_worker.sr != NULL
           && r == ngx_http_ngsp_jwks_worker.sr;
}


ngx_int_t
ngx_http_ngsp_jwks_info(ngx_http_request_t *r, ngx_http_ngsp_jwks_info_t *in)
{
    ngx_slab_pool_t            *shpool;
    ngx_http_ngsp_jwks_sh_t    *sh;
    ngx_http_ngsp_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_module);

    if (mcf == NULL || mcf->jwks_zone == NULL
        || mcf->jwks_zone->data == NULL)
    {
        return NGX_DECLINED;
    }

    sh = mcf->jwks_zone->data;
    shpool = (ngx_slab_pool_t *) mcf->jwks_zone->shm.addr;

    in->location = mcf->jwks_uri;

    ngx_shmtx_lock(&shpool->mutex);

    in->generation = sh->generation;
    in->fetched = sh->generation ? sh->fetched : 0;
    in->last_result = ngx_http_ngsp_jwks_results[sh->result];
    in->last_error.len = sh->error_len;
    in->last_error.data = ngx_pnalloc(r->pool, sh->error_len + 1);

    if (in->last_error.data) {
        ngx_memcpy(in->last_error.data, sh->error, sh->error_len);

    } else {
        in->last_error.len = 0;
    }

    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


ngx_int_t
ngx_http_ngsp_jwks_init(ngx_conf_t *cf)
{
    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_ngsp_jwks_body_filter;

    return NGX_OK;
}


void
ngx_http_ngsp_jwks_exit_worker(ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_http_ngsp_jwks_worker_t  *w = &ngx_http_ngsp_jwks_worker;

    if (mcf && w->keyset && mcf->keyset == w->keyset) {
        mcf->keyset = mcf->file_keyset;
    }

    ngsp_jwt_keyset_free(w->keyset);
    ngx_free(w->buf);
    ngx_memzero(w, sizeof(ngx_http_ngsp_jwks_worker_t));
}
