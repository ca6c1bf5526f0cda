/*
 * Overrides the script ignored (not a whole number from 0 to 10^15): each
 * one met is counted, and logged at most once a minute per key and field
 * across all workers, so that a typo in a busy agency's override is seen
 * without flooding the log.
 *
 * A small fixed table in shared memory, one slot per hash of key and
 * field, holds when that slot last logged; a worker logs only when it
 * wins the compare-and-swap of that time, so no lock is taken.  Two keys
 * that fall in one slot share their minute: the log may say less, never
 * more.  The count lives in the same zone, so it survives a reload.
 */

#include "ngx_http_ngsp_quota.h"


#define NGX_HTTP_NGSP_QUOTA_LOG_SLOTS     1024
#define NGX_HTTP_NGSP_QUOTA_LOG_INTERVAL  60


struct ngx_http_ngsp_quota_shm_s {
    ngx_atomic_t  invalid;      /* every override ignored, every worker */
    ngx_atomic_t  last[NGX_HTTP_NGSP_QUOTA_LOG_SLOTS];   /* when it logged */
};


static ngx_int_t ngx_http_ngsp_quota_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);


static ngx_str_t  ngx_http_ngsp_quota_zone_name =
    ngx_string("ngsp_quota_overrides");


ngx_int_t
ngx_http_ngsp_quota_zone_add(ngx_conf_t *cf,
    ngx_http_ngsp_quota_main_conf_t *mcf)
{
    ngx_shm_zone_t  *zone;

    /* the smallest zone nginx makes; the table takes about 8 KB of it */
    zone = ngx_shared_memory_add(cf, &ngx_http_ngsp_quota_zone_name,
                                 8 * ngx_pagesize,
                                 &ngx_http_ngsp_quota_module);
    if (zone == NULL) {
        return NGX_ERROR;
    }

    zone->init = ngx_http_ngsp_quota_zone_init;
    zone->data = mcf;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ngsp_quota_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ngsp_quota_main_conf_t  *omcf = data;

    ngx_slab_pool_t                  *shpool;
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    mcf = shm_zone->data;

    /* a reload: the counts and times go on */
    if (omcf) {
        mcf->sh = omcf->sh;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        mcf->sh = shpool->data;
        return NGX_OK;
    }

    mcf->sh = ngx_slab_calloc(shpool, sizeof(ngx_http_ngsp_quota_shm_t));
    if (mcf->sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = mcf->sh;

    return NGX_OK;
}


/* whether this worker is the one to log the slot's line this minute */
static ngx_uint_t
ngx_http_ngsp_quota_log_turn(ngx_http_ngsp_quota_shm_t *sh, uint32_t hash)
{
    time_t              now;
    ngx_atomic_t       *slot;
    ngx_atomic_uint_t   last;

    now = ngx_time();
    slot = &sh->last[hash % NGX_HTTP_NGSP_QUOTA_LOG_SLOTS];
    last = *slot;

    if (last != 0 && now >= (time_t) last
        && now - (time_t) last < NGX_HTTP_NGSP_QUOTA_LOG_INTERVAL)
    {
        return 0;
    }

    return ngx_atomic_cmp_set(slot, last, (ngx_atomic_uint_t) now);
}


void
ngx_http_ngsp_quota_ignored(ngx_http_request_t *r,
    ngx_http_ngsp_quota_ctx_t *ctx)
{
    size_t                            i, tag_len;
    uint32_t                          hash;
    const char                       *unit;
    ngx_atomic_uint_t                 n;
    ngsp_quota_state_t               *st;
    ngx_http_ngsp_quota_main_conf_t  *mcf;
    char                              tag[NGSP_QUOTA_TAG_MAX + 1];

    mcf = ngx_http_get_module_main_conf(r, ngx_http_ngsp_quota_module);

    if (mcf->sh == NULL) {
        return;
    }

    tag_len = ngsp_quota_tag(ctx->key.data, ctx->key.len, tag);

    for (i = 0; i < ctx->decision.nwindows; i++) {
        st = &ctx->decision.windows[i];

        if (st->ignored == 0) {
            continue;
        }

        n = ngx_atomic_fetch_add(&mcf->sh->invalid, 1) + 1;

        unit = ngsp_quota_unit_name(st->unit);

        ngx_crc32_init(hash);
        ngx_crc32_update(&hash, (u_char *) tag, tag_len);
        ngx_crc32_update(&hash, (u_char *) ":", 1);
        ngx_crc32_update(&hash, (u_char *) ctx->policy->name,
                         ngx_strlen(ctx->policy->name));
        ngx_crc32_update(&hash, (u_char *) ":", 1);
        ngx_crc32_update(&hash, (u_char *) unit, ngx_strlen(unit));
        ngx_crc32_final(hash);

        if (!ngx_http_ngsp_quota_log_turn(mcf->sh, hash)) {
            continue;
        }

        /*
         * The value may be anything an operator typed, so only its
         * length; a key= value may be a citizen's number, so only its
         * length too.  An agency's tag (the agency, or "~" and its
         * SHA-256) is what names its Redis keys.
         */
        if (ctx->configured) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "ngsp: quota: override ignored (not a whole "
                          "number from 0 to 10^15): key (configured, %uz "
                          "bytes), field \"%s:%s\", a value of %L bytes; "
                          "the configured limit applies (logged once a "
                          "minute per key and field; %uA ignored since "
                          "start)", ctx->key.len, ctx->policy->name, unit,
                          (long long) (st->ignored - 1), n);

        } else {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "ngsp: quota: override ignored (not a whole "
                          "number from 0 to 10^15): key \"%*s\", field "
                          "\"%s:%s\", a value of %L bytes; the configured "
                          "limit applies (logged once a minute per key and "
                          "field; %uA ignored since start)",
                          tag_len, tag, ctx->policy->name, unit,
                          (long long) (st->ignored - 1), n);
        }
    }
}


uint64_t
ngx_http_ngsp_quota_overrides_invalid(ngx_cycle_t *cycle)
{
    ngx_http_ngsp_quota_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_ngsp_quota_module);

    if (mcf == NULL || mcf->sh == NULL) {
        return 0;
    }

    return (uint64_t) mcf->sh->invalid;
}
