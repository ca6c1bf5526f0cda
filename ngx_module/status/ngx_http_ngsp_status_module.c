/*
 * ngx_http_ngsp_status_module: counters of the JWT, quota and masking
 * outcomes in a shared zone, counted once per request in the log phase
 * without locks, and the ngsp_status handler that shows them.  Its
 * directives, the zone and the counting.
 */

#include "ngx_http_ngsp_status.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_quota.h"
#include "ngx_http_ngsp_mask.h"


#define NGX_HTTP_NGSP_STATUS_AGENCIES   1000


static void *ngx_http_ngsp_status_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_ngsp_status_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_ngsp_status_init(ngx_conf_t *cf);
static char *ngx_http_ngsp_status_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ngsp_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ngsp_status_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_ngsp_status_log_handler(ngx_http_request_t *r);
static ngx_http_ngsp_jwt_ctx_t *ngx_http_ngsp_status_judged(
    ngx_http_request_t *r);
static uint64_t *ngx_http_ngsp_status_row(
    ngx_http_ngsp_status_main_conf_t *mcf, ngx_http_ngsp_jwt_ctx_t *jctx);
static void ngx_http_ngsp_status_quota(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_ngsp_quota_ctx_t *ctx, uint64_t *row);
static void ngx_http_ngsp_status_mask(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_ngsp_mask_ctx_t *ctx);


static ngx_command_t  ngx_http_ngsp_status_commands[] = {

    { ngx_string("ngsp_status_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_ngsp_status_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ngsp_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ngsp_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ngsp_status_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_ngsp_status_init,             /* postconfiguration */

    ngx_http_ngsp_status_create_main_conf, /* create main configuration */
    ngx_http_ngsp_status_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_ngsp_status_module = {
    NGX_MODULE_V1,
    &ngx_http_ngsp_status_module_ctx,      /* module context */
    ngx_http_ngsp_status_commands,         /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_ngsp_status_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_status_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    return mcf;
}


/* ngsp_status_zone name size [max_agencies=N] */
static char *
ngx_http_ngsp_status_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ngsp_status_main_conf_t  *mcf = conf;

    ssize_t     size;
    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (mcf->shm_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp_status_zone needs a zone name");
        return NGX_CONF_ERROR;
    }

    size = ngx_parse_size(&value[2]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid ngsp_status_zone size \"%V\"", &value[2]);
        return NGX_CONF_ERROR;
    }

    mcf->name = value[1];
    mcf->size = size;
    mcf->max_agencies = NGX_HTTP_NGSP_STATUS_AGENCIES;

    if (cf->args->nelts == 4) {
        if (ngx_strncmp(value[3].data, "max_agencies=", 13) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" of ngsp_status_zone, "
                               "expected max_agencies=N", &value[3]);
            return NGX_CONF_ERROR;
        }

        s.data = value[3].data + 13;
        s.len = value[3].len - 13;
        n = ngx_atoi(s.data, s.len);

        if (n < 1 || n > NGSP_STATUS_ROWS_MAX) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid max_agencies \"%V\" of "
                               "ngsp_status_zone, expected 1 to %d",
                               &s, NGSP_STATUS_ROWS_MAX);
            return NGX_CONF_ERROR;
        }

        mcf->max_agencies = n;
    }

    mcf->file = cf->conf_file->file.name;
    mcf->line = cf->conf_file->line;

    mcf->shm_zone = ngx_shared_memory_add(cf, &mcf->name, mcf->size,
                                          &ngx_http_ngsp_status_module);
    if (mcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp_status_zone \"%V\" is already used",
                           &mcf->name);
        return NGX_CONF_ERROR;
    }

    mcf->shm_zone->init = ngx_http_ngsp_status_init_zone;
    mcf->shm_zone->data = mcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_ngsp_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_http_ngsp_status_handler;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_status_module);
    mcf->handlers++;

    return NGX_CONF_OK;
}


/* FNV-1a over what the counters' places depend on */
static uint64_t
ngx_http_ngsp_status_digest(uint64_t h, const void *data, size_t len)
{
    const u_char  *p = data;

    while (len--) {
        h ^= *p++;
        h *= 0x100000001b3ULL;
    }

    return h;
}


/*
 * Where each counter lies, and the zone's size, once every policy and
 * profile is known (they may follow the zone in the http block).
 */
static char *
ngx_http_ngsp_status_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_ngsp_status_main_conf_t  *mcf = conf;

    size_t                            table, need;
    uint32_t                          v;
    uint64_t                          h;
    ngx_uint_t                        i, j, n;
    ngsp_quota_policy_t              *p;
    ngx_http_ngsp_mask_profile_t     *prof;
    ngx_http_ngsp_quota_main_conf_t  *qmcf;
    ngx_http_ngsp_mask_main_conf_t   *mmcf;

    if (mcf->shm_zone == NULL) {
        return NGX_CONF_OK;
    }

    qmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_quota_module);
    mmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_ngsp_mask_filter_module);

    h = 0xcbf29ce484222325ULL;
    v = (uint32_t) mcf->max_agencies;
    h = ngx_http_ngsp_status_digest(h, &v, sizeof(v));
    v = NGSP_JWT_STATUS_MAX;
    h = ngx_http_ngsp_status_digest(h, &v, sizeof(v));
    v = NGX_HTTP_NGSP_STATUS_MASK_N;
    h = ngx_http_ngsp_status_digest(h, &v, sizeof(v));

    mcf->policies = qmcf->policies;
    n = mcf->policies ? mcf->policies->nelts : 0;

    mcf->policy_base = ngx_palloc(cf->pool, (n + 1) * sizeof(ngx_uint_t));
    if (mcf->policy_base == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->ncounters = NGX_HTTP_NGSP_STATUS_POLICY;
    p = n ? mcf->policies->elts : NULL;

    for (i = 0; i < n; i++) {
        mcf->policy_base[i] = mcf->ncounters;
        mcf->ncounters += NGX_HTTP_NGSP_STATUS_OUTCOMES
                          + p[i].nwindows * NGX_HTTP_NGSP_STATUS_WINDOW;

        h = ngx_http_ngsp_status_digest(h, p[i].name, ngx_strlen(p[i].name)
                                                      + 1);
        for (j = 0; j < p[i].nwindows; j++) {
            v = p[i].windows[j].unit;
            h = ngx_http_ngsp_status_digest(h, &v, sizeof(v));
        }
        h = ngx_http_ngsp_status_digest(h, "/", 1);
    }

    n = mmcf->profiles.nelts;
    prof = mmcf->profiles.elts;

    mcf->profiles = ngx_palloc(cf->pool, (n + 1) * sizeof(ngx_str_t));
    if (mcf->profiles == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        mcf->profiles[i] = prof[i].name;
        h = ngx_http_ngsp_status_digest(h, prof[i].name.data,
                                        prof[i].name.len);
        h = ngx_http_ngsp_status_digest(h, "", 1);
    }

    ngx_str_set(&mcf->profiles[n], NGX_HTTP_NGSP_STATUS_UNKNOWN);
    mcf->nprofiles = n + 1;

    mcf->layout = h;

    mcf->memo = ngx_pcalloc(cf->pool, sizeof(ngsp_status_memo_t));
    if (mcf->memo == NULL) {
        return NGX_CONF_ERROR;
    }

    table = ngsp_status_table_size((uint32_t) mcf->max_agencies,
                                   (uint32_t) mcf->ncounters);
    if (table == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "ngsp_status_zone \"%V\": too many counters",
                           &mcf->name);
        return NGX_CONF_ERROR;
    }

    mcf->block = sizeof(ngx_http_ngsp_status_sh_t)
                 + mcf->nprofiles * NGX_HTTP_NGSP_STATUS_MASK_N
                   * sizeof(uint64_t)
                 + table;

    /*
     * The slab allocator's header and its page bookkeeping come first,
     * then the block on whole pages.
     */
    need = 2 * ngx_pagesize
           + (mcf->block + ngx_pagesize - 1) / ngx_pagesize
             * (ngx_pagesize + 64);
    need = ngx_max(need, 8 * ngx_pagesize);

    if (mcf->size < need) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "ngsp_status_zone \"%V\" of %uz bytes is too small "
                      "for max_agencies=%ui and the quota policies and "
                      "mask profiles configured: it needs at least %uz "
                      "bytes (%uzk) in %V:%ui",
                      &mcf->name, mcf->size, mcf->max_agencies, need,
                      (need + 1023) / 1024, &mcf->file, mcf->line);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ngsp_status_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt               *h;
    ngx_http_core_main_conf_t         *cmcf;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_ngsp_status_module);

    if (mcf->shm_zone == NULL) {
        if (mcf->handlers) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ngsp_status needs an ngsp_status_zone at http "
                          "level");
            return NGX_ERROR;
        }

        /* nothing counts: no handler in the log phase at all */
        return NGX_OK;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ngsp_status_log_handler;

    return NGX_OK;
}


/*
 * The counters go on across a reload that keeps their layout (the same
 * max_agencies, policies, windows and profiles); otherwise they start
 * again from zero.
 */
static ngx_int_t
ngx_http_ngsp_status_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ngsp_status_main_conf_t  *old = data;

    u_char                            *p;
    size_t                             len;
    ngx_slab_pool_t                   *shpool;
    ngx_http_ngsp_status_sh_t         *sh;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    mcf->load_time = ngx_time();

    if (old && old->sh) {
        sh = old->sh;

        if (sh->layout == mcf->layout && old->block == mcf->block) {
            p = (u_char *) sh + sizeof(ngx_http_ngsp_status_sh_t)
                + mcf->nprofiles * NGX_HTTP_NGSP_STATUS_MASK_N
                  * sizeof(uint64_t);

            mcf->table = ngsp_status_table_attach(p,
                                       mcf->block - (p - (u_char *) sh),
                                       (uint32_t) mcf->max_agencies,
                                       (uint32_t) mcf->ncounters,
                                       mcf->layout);
            if (mcf->table) {
                mcf->sh = sh;
                sh->generation++;
                return NGX_OK;
            }
        }

        /* the old workers that still count see the layout change, and stop */
        sh->layout = 0;
        ngx_slab_free(shpool, sh);

    } else {
        /*
         * The name for the allocator's messages comes first and stays
         * for the zone's life: a new layout's block then finds all the
         * pages after it free, in one run.
         */
        len = sizeof(" in ngsp_status_zone \"\"") + shm_zone->shm.name.len;

        p = ngx_slab_alloc(shpool, len);
        if (p) {
            ngx_sprintf(p, " in ngsp_status_zone \"%V\"%Z",
                        &shm_zone->shm.name);
            shpool->log_ctx = p;
        }
    }

    sh = ngx_slab_alloc(shpool, mcf->block);
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "ngsp: ngsp_status_zone \"%V\" of %uz bytes is too "
                      "small for its %uz bytes of counters",
                      &shm_zone->shm.name, shm_zone->shm.size, mcf->block);
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_ngsp_status_sh_t)
                    + mcf->nprofiles * NGX_HTTP_NGSP_STATUS_MASK_N
                      * sizeof(uint64_t));

    p = (u_char *) sh + sizeof(ngx_http_ngsp_status_sh_t)
        + mcf->nprofiles * NGX_HTTP_NGSP_STATUS_MASK_N * sizeof(uint64_t);

    mcf->table = ngsp_status_table_init(p, mcf->block - (p - (u_char *) sh),
                                        (uint32_t) mcf->max_agencies,
                                        (uint32_t) mcf->ncounters,
                                        mcf->layout, (uint64_t) ngx_random()
                                        ^ ((uint64_t) ngx_random() << 31));
    if (mcf->table == NULL) {
        return NGX_ERROR;
    }

    sh->layout = mcf->layout;
    sh->generation = 1;
    mcf->sh = sh;
    shpool->data = sh;

    return NGX_OK;
}


/* reserved names a token cannot take: they count as "_other" */
static ngx_inline ngx_uint_t
ngx_http_ngsp_status_reserved(ngx_str_t *name)
{
    return name->len && name->data[0] == '_'
           && ((name->len == sizeof(NGSP_STATUS_NONE) - 1
                && ngx_memcmp(name->data, NGSP_STATUS_NONE, name->len) == 0)
               || (name->len == sizeof(NGSP_STATUS_OTHER) - 1
                   && ngx_memcmp(name->data, NGSP_STATUS_OTHER, name->len)
                      == 0));
}


/* the row of the request's verified agency; "_none" without one */
static uint64_t *
ngx_http_ngsp_status_row(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_ngsp_jwt_ctx_t *jctx)
{
    if (jctx == NULL || jctx->status != NGSP_JWT_OK
        || jctx->agency.len == 0)
    {
        return ngsp_status_table_none(mcf->table);
    }

    if (ngx_http_ngsp_status_reserved(&jctx->agency)) {
        return ngsp_status_table_other(mcf->table);
    }

    return ngsp_status_table_lookup(mcf->table, mcf->memo, jctx->agency.data,
                                    jctx->agency.len);
}


/*
 * Once per request, when it is logged: what the JWT, quota and masking
 * modules decided for it, read from their request state.  Requests none
 * of them saw are not counted.
 */
static ngx_int_t
ngx_http_ngsp_status_log_handler(ngx_http_request_t *r)
{
    uint64_t                          *row;
    ngx_http_ngsp_jwt_ctx_t           *jctx;
    ngx_http_ngsp_mask_ctx_t          *mctx;
    ngx_http_ngsp_quota_ctx_t         *qctx;
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = ngx_http_ngsp_status_counting(r);
    if (mcf == NULL) {
        return NGX_OK;
    }

    row = NULL;

    jctx = ngx_http_ngsp_status_judged(r);

    /*
     * The outcome counts where ngsp_jwt is on; elsewhere the token may
     * still have been judged (for $ngsp_agency, a quota key, a log line)
     * and gives the agency its quota decision counts under.
     */
    if (jctx && jctx->conf->enable == 1
        && (ngx_uint_t) jctx->status < NGSP_JWT_STATUS_MAX)
    {
        row = ngx_http_ngsp_status_row(mcf, jctx);
        ngsp_status_add(&row[NGX_HTTP_NGSP_STATUS_JWT + jctx->status], 1);
    }

    qctx = ngx_http_ngsp_quota_get_ctx(r);

    if (qctx && qctx->status != NGX_HTTP_NGSP_QUOTA_OFF && qctx->policy) {
        if (row == NULL) {
            row = ngx_http_ngsp_status_row(mcf, jctx);
        }

        ngx_http_ngsp_status_quota(mcf, qctx, row);
    }

    mctx = ngx_http_get_module_ctx(r, ngx_http_ngsp_mask_filter_module);

    if (mctx) {
        ngx_http_ngsp_status_mask(mcf, mctx);
    }

    return NGX_OK;
}


/* the quota module's decision of the request */
static void
ngx_http_ngsp_status_quota(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_ngsp_quota_ctx_t *ctx, uint64_t *row)
{
    ngx_uint_t  outcome;

    switch (ctx->status) {
    case NGX_HTTP_NGSP_QUOTA_ALLOWED:
        outcome = NGX_HTTP_NGSP_STATUS_ALLOWED;
        break;
    case NGX_HTTP_NGSP_QUOTA_REJECTED:
        outcome = NGX_HTTP_NGSP_STATUS_REJECTED;
        break;
    case NGX_HTTP_NGSP_QUOTA_DRY_RUN:
        outcome = NGX_HTTP_NGSP_STATUS_DRY_RUN;
        break;
    default:
        outcome = NGX_HTTP_NGSP_STATUS_ERROR;
    }

    ngx_http_ngsp_status_count_quota(mcf, row, ctx->policy, outcome,
                                     ctx->decided ? &ctx->decision : NULL);
}


/* the mask filter's response */
static void
ngx_http_ngsp_status_mask(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_ngsp_mask_ctx_t *ctx)
{
    ngx_uint_t  outcome;

    outcome = ctx->failed ? NGX_HTTP_NGSP_STATUS_MASK_ERROR
              : ctx->passed ? NGX_HTTP_NGSP_STATUS_MASK_PASS
              : NGX_HTTP_NGSP_STATUS_MASK_OK;

    ngx_http_ngsp_status_count_mask(mcf, &ctx->profile, outcome,
                                    ctx->failed ? ctx->why
                                    : NGX_HTTP_NGSP_MASK_WHY_NONE,
                                    ctx->mask
                                    ? ngsp_mask_body_masked(ctx->mask) : 0,
                                    ctx->bytes_in, ctx->bytes_out);
}


/* the token's judgement, when the request had one made */
static ngx_http_ngsp_jwt_ctx_t *
ngx_http_ngsp_status_judged(ngx_http_request_t *r)
{
    ngx_http_ngsp_jwt_ctx_t  *jctx;

    jctx = ngx_http_ngsp_jwt_get_ctx(r);

    if (jctx && jctx->conf == NULL) {
        return NULL;
    }

    return jctx;
}


ngx_http_ngsp_status_main_conf_t *
ngx_http_ngsp_status_counting(ngx_http_request_t *r)
{
    ngx_http_ngsp_status_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_status_module);

    /* no zone, or a reload changed the layout under this old worker */
    if (mcf == NULL || mcf->sh == NULL || mcf->sh->layout != mcf->layout) {
        return NULL;
    }

    return mcf;
}


uint64_t *
ngx_http_ngsp_status_request_row(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_http_request_t *r)
{
    return ngx_http_ngsp_status_row(mcf, ngx_http_ngsp_status_judged(r));
}


/*
 * One quota decision of a policy under a row: its outcome, and when the
 * counters answered (d not NULL), the windows' last state.
 */
void
ngx_http_ngsp_status_count_quota(ngx_http_ngsp_status_main_conf_t *mcf,
    uint64_t *row, ngsp_quota_policy_t *policy, ngx_uint_t outcome,
    ngsp_quota_decision_t *d)
{
    time_t                  now;
    uint64_t               *c, *w;
    ngx_uint_t              i, j, k;
    ngsp_quota_policy_t    *policies;
    ngsp_quota_state_t     *st;

    if (mcf->policies == NULL || row == NULL || policy == NULL
        || outcome >= NGX_HTTP_NGSP_STATUS_OUTCOMES)
    {
        return;
    }

    policies = mcf->policies->elts;
    i = policy - policies;

    if (policy < policies || i >= mcf->policies->nelts) {
        return;
    }

    c = row + mcf->policy_base[i];
    ngsp_status_add(&c[outcome], 1);

    if (d == NULL) {
        return;
    }

    /* the windows' last state: the view of every host as of now */
    now = ngx_time();
    c += NGX_HTTP_NGSP_STATUS_OUTCOMES;

    for (j = 0; j < d->nwindows && j < NGSP_QUOTA_MAX_WINDOWS; j++) {
        st = &d->windows[j];

        /* the decision reports the policy's windows in its order */
        k = j;

        if (k >= policy->nwindows || policy->windows[k].unit != st->unit) {
            for (k = 0; k < policy->nwindows; k++) {
                if (policy->windows[k].unit == st->unit) {
                    break;
                }
            }

            if (k == policy->nwindows) {
                continue;
            }
        }

        w = c + k * NGX_HTTP_NGSP_STATUS_WINDOW;
        ngsp_status_set(&w[NGX_HTTP_NGSP_STATUS_LIMIT], st->limit);
        ngsp_status_set(&w[NGX_HTTP_NGSP_STATUS_REMAINING],
                        st->remaining > 0 ? st->remaining : 0);
        ngsp_status_set(&w[NGX_HTTP_NGSP_STATUS_RESET],
                        now + (st->reset > 0 ? st->reset : 0));
        ngsp_status_set(&w[NGX_HTTP_NGSP_STATUS_UPDATED], now);
    }
}


/*
 * One masked body under its profile's row ("_unknown" for a name no
 * profile has): its outcome, the refusal's reason, fields and bytes.
 */
void
ngx_http_ngsp_status_count_mask(ngx_http_ngsp_status_main_conf_t *mcf,
    ngx_str_t *profile, ngx_uint_t outcome, ngx_uint_t why,
    uint64_t fields, off_t bytes_in, off_t bytes_out)
{
    uint64_t    *c;
    ngx_uint_t   i;

    if (outcome > NGX_HTTP_NGSP_STATUS_MASK_ERROR
        || why >= NGX_HTTP_NGSP_MASK_WHY_N)
    {
        return;
    }

    /* a profile's own name, most often: the same bytes, not a copy */
    for (i = 0; i < mcf->nprofiles - 1; i++) {
        if (mcf->profiles[i].data == profile->data
            && mcf->profiles[i].len == profile->len)
        {
            break;
        }
    }

    if (i == mcf->nprofiles - 1) {
        for (i = 0; i < mcf->nprofiles - 1; i++) {
            if (mcf->profiles[i].len == profile->len
                && ngx_memcmp(mcf->profiles[i].data, profile->data,
                              profile->len) == 0)
            {
                break;
            }
        }
    }

    c = mcf->sh->mask + i * NGX_HTTP_NGSP_STATUS_MASK_N;

    ngsp_status_add(&c[outcome], 1);

    if (outcome == NGX_HTTP_NGSP_STATUS_MASK_ERROR
        && why != NGX_HTTP_NGSP_MASK_WHY_NONE)
    {
        ngsp_status_add(&c[NGX_HTTP_NGSP_STATUS_MASK_REFUSED + why - 1], 1);
    }

    ngsp_status_add(&c[NGX_HTTP_NGSP_STATUS_MASK_FIELDS], fields);
    ngsp_status_add(&c[NGX_HTTP_NGSP_STATUS_MASK_BYTES_IN],
                    bytes_in > 0 ? (uint64_t) bytes_in : 0);
    ngsp_status_add(&c[NGX_HTTP_NGSP_STATUS_MASK_BYTES_OUT],
                    bytes_out > 0 ? (uint64_t) bytes_out : 0);
}
