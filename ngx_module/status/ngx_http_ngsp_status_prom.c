/*
 * ngsp status, the Prometheus text exposition format (version 0.0.4):
 * each family once, with its # HELP and # TYPE, all its samples together;
 * label values escaped by ngsp_status_text.c.  Counters of an agency that
 * are zero are left out (a series appears with its first count).
 */

#include "ngx_http_ngsp_status.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_quota.h"
#include "ngsp_version.h"


typedef void (*ngx_http_ngsp_status_row_pt)(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg);


static void ngx_http_ngsp_status_prom_rows(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, ngx_http_ngsp_status_row_pt row,
    ngx_uint_t arg);
static void ngx_http_ngsp_status_prom_jwt(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg);
static void ngx_http_ngsp_status_prom_quota(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg);
static void ngx_http_ngsp_status_prom_window(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg);
static void ngx_http_ngsp_status_prom_mask(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const char *metric,
    ngx_uint_t first, ngx_uint_t last);
static void ngx_http_ngsp_status_prom_redis(ngx_http_ngsp_status_out_t *o);
static void ngx_http_ngsp_status_prom_latency(ngx_http_ngsp_status_out_t *o,
    ngx_uint_t worker, ngx_http_ngsp_redis_stats_t *st);
static void ngx_http_ngsp_status_prom_cache(ngx_http_ngsp_status_out_t *o);
static void ngx_http_ngsp_status_prom_keys(ngx_http_ngsp_status_out_t *o);
static ngx_uint_t ngx_http_ngsp_status_same_key(ngsp_jwt_key_info_t *a,
    ngsp_jwt_key_info_t *b);


#define lit(s)  ngx_http_ngsp_status_lit(o, s)
#define label(s)                                                              \
    ngx_http_ngsp_status_prom_str(o, (u_char *) (s), ngx_strlen(s))

#define family(name, type, help)                                              \
    lit("# HELP " name " " help "\n# TYPE " name " " type "\n")


void
ngx_http_ngsp_status_prom(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf)
{
    size_t          i, len, n;
    uint64_t       *c;
    const u_char   *name;

    family("ngsp_info", "gauge", "ngsp module version.");
    lit("ngsp_info{version=");
    label(NGSP_VERSION);
    lit(",nginx_version=");
    label(NGINX_VERSION);
    lit("} 1\n");

    family("ngsp_jwt_requests_total", "counter",
           "Requests by agency and JWT outcome ($ngsp_jwt_status).");
    ngx_http_ngsp_status_prom_rows(o, mcf, ngx_http_ngsp_status_prom_jwt, 0);

    family("ngsp_quota_decisions_total", "counter",
           "Quota decisions by agency, policy and outcome.");
    ngx_http_ngsp_status_prom_rows(o, mcf, ngx_http_ngsp_status_prom_quota,
                                   0);

    family("ngsp_quota_limit", "gauge",
           "A window's limit as of the agency's last decision.");
    ngx_http_ngsp_status_prom_rows(o, mcf, ngx_http_ngsp_status_prom_window,
                                   NGX_HTTP_NGSP_STATUS_LIMIT);

    family("ngsp_quota_remaining", "gauge",
           "Requests left in a window as of the agency's last decision.");
    ngx_http_ngsp_status_prom_rows(o, mcf, ngx_http_ngsp_status_prom_window,
                                   NGX_HTTP_NGSP_STATUS_REMAINING);

    family("ngsp_quota_reset_seconds", "gauge",
           "Seconds from now until a window is fully available again.");
    ngx_http_ngsp_status_prom_rows(o, mcf, ngx_http_ngsp_status_prom_window,
                                   NGX_HTTP_NGSP_STATUS_RESET);

    family("ngsp_mask_responses_total", "counter",
           "Responses of masked locations by profile and outcome.");
    ngx_http_ngsp_status_prom_mask(o, mcf, "ngsp_mask_responses_total",
                                   NGX_HTTP_NGSP_STATUS_MASK_OK,
                                   NGX_HTTP_NGSP_STATUS_MASK_ERROR);

    family("ngsp_mask_refused_total", "counter",
           "Masked responses refused or cut short, by profile and reason.");
    ngx_http_ngsp_status_prom_mask(o, mcf, "ngsp_mask_refused_total",
                                   NGX_HTTP_NGSP_STATUS_MASK_REFUSED,
                                   NGX_HTTP_NGSP_STATUS_MASK_N - 1);

    family("ngsp_mask_fields_total", "counter",
           "Values masked (removed, redacted or rewritten) by profile.");
    ngx_http_ngsp_status_prom_mask(o, mcf, "ngsp_mask_fields_total",
                                   NGX_HTTP_NGSP_STATUS_MASK_FIELDS,
                                   NGX_HTTP_NGSP_STATUS_MASK_FIELDS);

    family("ngsp_mask_bytes_in_total", "counter",
           "Body bytes the masking read, as the upstream sent them.");
    ngx_http_ngsp_status_prom_mask(o, mcf, "ngsp_mask_bytes_in_total",
                                   NGX_HTTP_NGSP_STATUS_MASK_BYTES_IN,
                                   NGX_HTTP_NGSP_STATUS_MASK_BYTES_IN);

    family("ngsp_mask_bytes_out_total", "counter",
           "Body bytes the masking wrote.");
    ngx_http_ngsp_status_prom_mask(o, mcf, "ngsp_mask_bytes_out_total",
                                   NGX_HTTP_NGSP_STATUS_MASK_BYTES_OUT,
                                   NGX_HTTP_NGSP_STATUS_MASK_BYTES_OUT);

    family("ngsp_overrides_invalid_total", "counter",
           "Quota overrides in Redis that were not whole numbers from 0 to "
           "10^15, and so were ignored, met by any worker.");
    lit("ngsp_overrides_invalid_total ");
    ngx_http_ngsp_status_u64(o, ngx_http_ngsp_quota_overrides_invalid(
                                              (ngx_cycle_t *) ngx_cycle));
    lit("\n");

    ngx_http_ngsp_status_prom_redis(o);
    ngx_http_ngsp_status_prom_cache(o);
    ngx_http_ngsp_status_prom_keys(o);

    for (i = 0, n = 0; i < ngsp_status_table_nslots(mcf->table); i++) {
        n += ngsp_status_table_slot(mcf->table, i, &name, &len, &c);
    }

    family("ngsp_status_agencies", "gauge",
           "Agencies with a row of their own in the status zone.");
    lit("ngsp_status_agencies ");
    ngx_http_ngsp_status_u64(o, n);
    lit("\n");

    family("ngsp_status_overflow_total", "counter",
           "Requests counted under _other because the zone was full.");
    lit("ngsp_status_overflow_total ");
    ngx_http_ngsp_status_u64(o, ngsp_status_table_overflow(mcf->table));
    lit("\n");
}


/* row() for every agency's row, then _other's and _none's */
static void
ngx_http_ngsp_status_prom_rows(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, ngx_http_ngsp_status_row_pt row,
    ngx_uint_t arg)
{
    size_t          i, len;
    uint64_t       *c;
    const u_char   *name;

    for (i = 0; i < ngsp_status_table_nslots(mcf->table); i++) {
        if (ngsp_status_table_slot(mcf->table, i, &name, &len, &c)) {
            row(o, mcf, name, len, c, arg);
        }
    }

    row(o, mcf, (u_char *) NGSP_STATUS_OTHER, sizeof(NGSP_STATUS_OTHER) - 1,
        ngsp_status_table_other(mcf->table), arg);
    row(o, mcf, (u_char *) NGSP_STATUS_NONE, sizeof(NGSP_STATUS_NONE) - 1,
        ngsp_status_table_none(mcf->table), arg);
}


static void
ngx_http_ngsp_status_prom_jwt(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg)
{
    uint64_t    v;
    ngx_uint_t  i;

    for (i = 0; i < NGSP_JWT_STATUS_MAX; i++) {
        v = ngsp_status_get(&c[NGX_HTTP_NGSP_STATUS_JWT + i]);

        if (v == 0) {
            continue;
        }

        lit("ngsp_jwt_requests_total{agency=");
        ngx_http_ngsp_status_prom_str(o, name, len);
        lit(",status=");
        label(ngsp_jwt_status_name(i));
        lit("} ");
        ngx_http_ngsp_status_u64(o, v);
        lit("\n");
    }
}


static void
ngx_http_ngsp_status_prom_quota(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg)
{
    uint64_t              v;
    ngx_uint_t            i, j, n;
    ngsp_quota_policy_t  *p;

    n = mcf->policies ? mcf->policies->nelts : 0;
    p = n ? mcf->policies->elts : NULL;

    for (i = 0; i < n; i++) {
        for (j = 0; j < NGX_HTTP_NGSP_STATUS_OUTCOMES; j++) {
            v = ngsp_status_get(&c[mcf->policy_base[i] + j]);

            if (v == 0) {
                continue;
            }

            lit("ngsp_quota_decisions_total{agency=");
            ngx_http_ngsp_status_prom_str(o, name, len);
            lit(",policy=");
            label(p[i].name);
            lit(",outcome=");
            label(ngx_http_ngsp_status_outcome_name(j));
            lit("} ");
            ngx_http_ngsp_status_u64(o, v);
            lit("\n");
        }
    }
}


static void
ngx_http_ngsp_status_prom_window(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c, ngx_uint_t arg)
{
    int64_t               v;
    uint64_t             *w;
    ngx_uint_t            i, j, n;
    ngsp_quota_policy_t  *p;

    n = mcf->policies ? mcf->policies->nelts : 0;
    p = n ? mcf->policies->elts : NULL;

    for (i = 0; i < n; i++) {
        for (j = 0; j < p[i].nwindows; j++) {
            w = c + mcf->policy_base[i] + NGX_HTTP_NGSP_STATUS_OUTCOMES
                + j * NGX_HTTP_NGSP_STATUS_WINDOW;

            if (ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_UPDATED]) == 0) {
                continue;
            }

            switch (arg) {
            case NGX_HTTP_NGSP_STATUS_LIMIT:
                lit("ngsp_quota_limit{agency=");
                break;
            case NGX_HTTP_NGSP_STATUS_REMAINING:
                lit("ngsp_quota_remaining{agency=");
                break;
            default:
                lit("ngsp_quota_reset_seconds{agency=");
            }

            ngx_http_ngsp_status_prom_str(o, name, len);
            lit(",policy=");
            label(p[i].name);
            lit(",window=");
            label(ngsp_quota_unit_name(p[i].windows[j].unit));
            lit("} ");

            v = (int64_t) ngsp_status_get(&w[arg]);

            if (arg == NGX_HTTP_NGSP_STATUS_RESET) {
                v -= ngx_time();
                v = v > 0 ? v : 0;
            }

            ngx_http_ngsp_status_i64(o, v);
            lit("\n");
        }
    }
}


static void
ngx_http_ngsp_status_prom_mask(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const char *metric,
    ngx_uint_t first, ngx_uint_t last)
{
    uint64_t    *c;
    ngx_uint_t   i, j;

    for (i = 0; i < mcf->nprofiles; i++) {
        c = mcf->sh->mask + i * NGX_HTTP_NGSP_STATUS_MASK_N;

        /* names no profile has: only when some were met */
        if (i == mcf->nprofiles - 1
            && ngsp_status_get(&c[NGX_HTTP_NGSP_STATUS_MASK_ERROR]) == 0)
        {
            continue;
        }

        for (j = first; j <= last; j++) {
            ngx_http_ngsp_status_add(o, metric, ngx_strlen(metric));
            lit("{profile=");
            ngx_http_ngsp_status_prom_str(o, mcf->profiles[i].data,
                                          mcf->profiles[i].len);

            if (first != last) {
                if (j >= NGX_HTTP_NGSP_STATUS_MASK_REFUSED) {
                    lit(",reason=");
                } else {
                    lit(",outcome=");
                }
                label(ngx_http_ngsp_status_mask_name(j));
            }

            lit("} ");
            ngx_http_ngsp_status_u64(o, ngsp_status_get(&c[j]));
            lit("\n");
        }
    }
}


#define worker_sample(metric, w, v)                                           \
    lit(metric "{worker=\"");                                                 \
    ngx_http_ngsp_status_u64(o, w);                                           \
    lit("\"} ");                                                              \
    ngx_http_ngsp_status_u64(o, v);                                           \
    lit("\n")


/* each worker's Redis connection, by ngx_worker; nothing without ngsp_redis */
static void
ngx_http_ngsp_status_prom_redis(ngx_http_ngsp_status_out_t *o)
{
    u_char                       *p, *q, *last;
    size_t                        len;
    ngx_uint_t                    i, n, head;
    ngx_http_ngsp_redis_stats_t  *st;
    u_char                        nodes[NGX_HTTP_NGSP_REDIS_NODES_LEN];

    st = ngx_http_ngsp_redis_stats((ngx_cycle_t *) ngx_cycle, &n);

    if (st == NULL) {
        return;
    }

    family("ngsp_redis_connected", "gauge",
           "1 while the worker's Redis connection is up and ready.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_connected", i, st[i].connected ? 1 : 0);
        }
    }

    /* a cluster: one sample per master a worker holds a connection to */
    for (i = 0, head = 0; i < n; i++) {
        if (st[i].pid == 0) {
            continue;
        }

        len = ngx_http_ngsp_redis_cluster_nodes(&st[i], nodes);
        p = nodes;
        last = nodes + len;

        while (p < last) {
            q = ngx_strlchr(p, last, ' ');
            if (q == NULL) {
                q = last;
            }

            if (!head) {
                family("ngsp_redis_node", "gauge",
                       "1 for each Redis Cluster master the worker holds "
                       "a connection to.");
                head = 1;
            }

            lit("ngsp_redis_node{worker=\"");
            ngx_http_ngsp_status_u64(o, i);
            lit("\",node=");
            ngx_http_ngsp_status_prom_str(o, p, q - p);
            lit("} 1\n");

            p = q + 1;
        }
    }

    family("ngsp_redis_connects_total", "counter",
           "Redis connections the worker made ready.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_connects_total", i, st[i].connects);
        }
    }

    family("ngsp_redis_reconnects_total", "counter",
           "Redis connections made ready after the first.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_reconnects_total", i,
                          st[i].reconnects);
        }
    }

    family("ngsp_redis_timeouts_total", "counter",
           "Redis connect timeouts, stalled connections and commands "
           "that timed out.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_timeouts_total", i, st[i].timeouts);
        }
    }

    family("ngsp_redis_errors_total", "counter",
           "Redis error replies, failed connects and lost connections.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_errors_total", i, st[i].errors);
        }
    }

    family("ngsp_redis_master_changes_total", "counter",
           "Sentinel: moves of the worker's connection to another master.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            worker_sample("ngsp_redis_master_changes_total", i,
                          st[i].master_changes);
        }
    }

    family("ngsp_redis_node_info", "gauge",
           "The Redis node the worker talks to and, with Sentinel, the "
           "sentinel it listens to for +switch-master (empty: none).");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            lit("ngsp_redis_node_info{worker=\"");
            ngx_http_ngsp_status_u64(o, i);
            lit("\",address=");
            ngx_http_ngsp_status_prom_str(o, st[i].address,
                                          ngx_strnlen(st[i].address,
                                                      sizeof(st[i].address)));
            lit(",sentinel=");
            ngx_http_ngsp_status_prom_str(o, st[i].sentinel,
                                          ngx_strnlen(st[i].sentinel,
                                                      sizeof(st[i].sentinel)));
            lit("} 1\n");
        }
    }

    family("ngsp_redis_latency_seconds", "histogram",
           "Time from sending a request's Redis command to its reply.");
    for (i = 0; i < n; i++) {
        if (st[i].pid) {
            ngx_http_ngsp_status_prom_latency(o, i, &st[i]);
        }
    }
}


/*
 * The buckets cumulative, _count their total: one read of each bucket
 * keeps the series consistent while the worker goes on counting.
 */
static void
ngx_http_ngsp_status_prom_latency(ngx_http_ngsp_status_out_t *o,
    ngx_uint_t worker, ngx_http_ngsp_redis_stats_t *st)
{
    uint64_t    sum;
    ngx_uint_t  j;

    for (j = 0, sum = 0; j < NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS; j++) {
        sum += st->latency[j];

        lit("ngsp_redis_latency_seconds_bucket{worker=\"");
        ngx_http_ngsp_status_u64(o, worker);
        lit("\",le=\"");

        if (j < NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS - 1) {
            ngx_http_ngsp_status_micro(o,
                ngx_http_ngsp_redis_latency_bounds_us[j]);
        } else {
            lit("+Inf");
        }

        lit("\"} ");
        ngx_http_ngsp_status_u64(o, sum);
        lit("\n");
    }

    lit("ngsp_redis_latency_seconds_sum{worker=\"");
    ngx_http_ngsp_status_u64(o, worker);
    lit("\"} ");
    ngx_http_ngsp_status_micro(o, (int64_t) st->latency_sum_us);
    lit("\n");

    worker_sample("ngsp_redis_latency_seconds_count", worker, sum);
}


static void
ngx_http_ngsp_status_prom_cache(ngx_http_ngsp_status_out_t *o)
{
    ngx_http_ngsp_jwt_cache_stats_t  st;

    if (ngx_http_ngsp_jwt_cache_stats((ngx_cycle_t *) ngx_cycle, &st)
        != NGX_OK)
    {
        return;
    }

    family("ngsp_jwt_cache_hits_total", "counter",
           "Verifications found in the shared JWT cache.");
    lit("ngsp_jwt_cache_hits_total ");
    ngx_http_ngsp_status_u64(o, st.hits);
    lit("\n");

    family("ngsp_jwt_cache_misses_total", "counter",
           "Lookups in the shared JWT cache that found nothing valid.");
    lit("ngsp_jwt_cache_misses_total ");
    ngx_http_ngsp_status_u64(o, st.misses);
    lit("\n");

    family("ngsp_jwt_cache_entries", "gauge",
           "Verifications held in the shared JWT cache.");
    lit("ngsp_jwt_cache_entries ");
    ngx_http_ngsp_status_u64(o, st.entries);
    lit("\n");
}


/*
 * One ngsp_key_info series per key and algorithm it verifies, and a
 * certificate's expiry.  Keys alike in every label (a JWKS may hold
 * several without kid) make one series: the earliest expiry, which is
 * what an operator must act on.
 */
static void
ngx_http_ngsp_status_prom_keys(ngx_http_ngsp_status_out_t *o)
{
    size_t                      i, j;
    int64_t                     na;
    ngx_uint_t                  a, seen;
    ngsp_jwt_key_info_t         k, e;
    ngx_http_ngsp_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(o->r, ngx_http_ngsp_module);

    family("ngsp_key_info", "gauge",
           "A key of the JWT key set and an algorithm it verifies.");

    for (i = 0;
         jmcf->keyset && ngsp_jwt_keyset_info(jmcf->keyset, i, &k) == 0;
         i++)
    {
        for (a = 1; a < NGSP_ALG_MAX; a++) {
            if (!(k.algs & NGSP_ALG_BIT(a))) {
                continue;
            }

            for (j = 0, seen = 0; j < i && !seen; j++) {
                (void) ngsp_jwt_keyset_info(jmcf->keyset, j, &e);
                seen = ngx_http_ngsp_status_same_key(&k, &e)
                       && (e.algs & NGSP_ALG_BIT(a))
                       && k.kty && e.kty && ngx_strcmp(k.kty, e.kty) == 0;
            }

            if (seen) {
                continue;
            }

            lit("ngsp_key_info{kid=");
            label(k.kid ? k.kid : "");
            lit(",kty=");
            label(k.kty ? k.kty : "");
            lit(",alg=");
            label(ngsp_jwt_alg_name(a));
            lit(",source=");
            label(k.source ? k.source : "");
            lit("} 1\n");
        }
    }

    family("ngsp_key_not_after_seconds", "gauge",
           "When a key's certificate expires, in unix seconds.");

    for (i = 0;
         jmcf->keyset && ngsp_jwt_keyset_info(jmcf->keyset, i, &k) == 0;
         i++)
    {
        if (k.not_after == 0) {
            continue;
        }

        na = k.not_after;
        seen = 0;

        for (j = 0;
             ngsp_jwt_keyset_info(jmcf->keyset, j, &e) == 0;
             j++)
        {
            if (j == i || e.not_after == 0
                || !ngx_http_ngsp_status_same_key(&k, &e))
            {
                continue;
            }

            if (j < i) {
                seen = 1;
                break;
            }

            na = ngx_min(na, e.not_after);
        }

        if (seen) {
            continue;
        }

        lit("ngsp_key_not_after_seconds{kid=");
        label(k.kid ? k.kid : "");
        lit(",source=");
        label(k.source ? k.source : "");
        lit("} ");
        ngx_http_ngsp_status_i64(o, na);
        lit("\n");
    }
}


/* the same kid (or none) from the same file */
static ngx_uint_t
ngx_http_ngsp_status_same_key(ngsp_jwt_key_info_t *a, ngsp_jwt_key_info_t *b)
{
    const char  *ak, *bk, *as, *bs;

    ak = a->kid ? a->kid : "";
    bk = b->kid ? b->kid : "";
    as = a->source ? a->source : "";
    bs = b->source ? b->source : "";

    return ngx_strcmp(ak, bk) == 0 && ngx_strcmp(as, bs) == 0;
}
