/*
 * ngsp status, the JSON form: one object, the shape docs/operations.md
 * describes.  Every name is written through the escaping of
 * ngsp_status_text.c.
 */

#include "ngx_http_ngsp_status.h"
#include "ngx_http_ngsp_jwt.h"
#include "ngx_http_ngsp_quota.h"
#include "ngsp_version.h"


static void ngx_http_ngsp_status_json_policies(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf);
static void ngx_http_ngsp_status_json_agency(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c);
static void ngx_http_ngsp_status_json_mask(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf);
static void ngx_http_ngsp_status_json_redis(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_quota_main_conf_t *qmcf);
static void ngx_http_ngsp_status_json_cache(ngx_http_ngsp_status_out_t *o);
static void ngx_http_ngsp_status_json_keys(ngx_http_ngsp_status_out_t *o);
static void ngx_http_ngsp_status_json_jwks(ngx_http_ngsp_status_out_t *o);


#define lit(s)  ngx_http_ngsp_status_lit(o, s)
#define str(s)  ngx_http_ngsp_status_json_str(o, (u_char *) (s), ngx_strlen(s))


void
ngx_http_ngsp_status_json(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf)
{
    size_t                            i, len, n;
    uint64_t                         *c;
    ngx_time_t                       *tp;
    const u_char                     *name;
    ngx_http_ngsp_quota_main_conf_t  *qmcf;

    qmcf = ngx_http_get_module_main_conf(o->r, ngx_http_ngsp_quota_module);
    tp = ngx_timeofday();

    lit("{\"version\":");
    str(NGSP_VERSION);
    lit(",\"nginx_version\":");
    str(NGINX_VERSION);
    lit(",\"generation\":");
    ngx_http_ngsp_status_u64(o, mcf->sh->generation);
    lit(",\"load_time\":");
    ngx_http_ngsp_status_i64(o, mcf->load_time);
    lit(",\"now\":");
    ngx_http_ngsp_status_micro(o, (int64_t) tp->sec * 1000000
                                  + (int64_t) tp->msec * 1000);
    lit(",\"timezone_offset\":");
    ngx_http_ngsp_status_i64(o, qmcf->tz);

    for (i = 0, n = 0; i < ngsp_status_table_nslots(mcf->table); i++) {
        n += ngsp_status_table_slot(mcf->table, i, &name, &len, &c);
    }

    lit(",\"zone\":{\"name\":");
    ngx_http_ngsp_status_json_str(o, mcf->name.data, mcf->name.len);
    lit(",\"size\":");
    ngx_http_ngsp_status_u64(o, mcf->size);
    lit(",\"max_agencies\":");
    ngx_http_ngsp_status_u64(o, mcf->max_agencies);
    lit(",\"agencies\":");
    ngx_http_ngsp_status_u64(o, n);
    lit(",\"overflow\":");
    if (ngsp_status_table_overflow(mcf->table)) {
        lit("true}");
    } else {
        lit("false}");
    }

    lit(",\"policies\":");
    ngx_http_ngsp_status_json_policies(o, mcf);

    lit(",\"agencies\":{");

    for (i = 0, n = 0; i < ngsp_status_table_nslots(mcf->table); i++) {
        if (ngsp_status_table_slot(mcf->table, i, &name, &len, &c)) {
            ngx_http_ngsp_status_json_agency(o, mcf, name, len, c);
            lit(",");
        }
    }

    ngx_http_ngsp_status_json_agency(o, mcf, (u_char *) NGSP_STATUS_OTHER,
                                     sizeof(NGSP_STATUS_OTHER) - 1,
                                     ngsp_status_table_other(mcf->table));
    lit(",");
    ngx_http_ngsp_status_json_agency(o, mcf, (u_char *) NGSP_STATUS_NONE,
                                     sizeof(NGSP_STATUS_NONE) - 1,
                                     ngsp_status_table_none(mcf->table));
    lit("},\"mask\":");
    ngx_http_ngsp_status_json_mask(o, mcf);

    lit(",\"redis\":");
    ngx_http_ngsp_status_json_redis(o, qmcf);
    lit(",\"jwt_cache\":");
    ngx_http_ngsp_status_json_cache(o);
    lit(",\"keys\":");
    ngx_http_ngsp_status_json_keys(o);
    lit(",\"jwks\":");
    ngx_http_ngsp_status_json_jwks(o);
    lit(",\"overrides_invalid\":");
    ngx_http_ngsp_status_u64(o, ngx_http_ngsp_quota_overrides_invalid(
                                              (ngx_cycle_t *) ngx_cycle));

    lit("}\n");
}


static void
ngx_http_ngsp_status_json_policies(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf)
{
    ngx_uint_t            i, j, n, w;
    ngsp_quota_policy_t  *p;

    n = mcf->policies ? mcf->policies->nelts : 0;
    p = n ? mcf->policies->elts : NULL;

    lit("{");

    for (i = 0; i < n; i++) {
        if (i) {
            lit(",");
        }

        str(p[i].name);
        lit(":{\"windows\":[");

        for (j = 0; j < p[i].nwindows; j++) {
            if (j) {
                lit(",");
            }
            lit("{\"unit\":");
            str(ngsp_quota_unit_name(p[i].windows[j].unit));
            lit(",\"limit\":");
            ngx_http_ngsp_status_u64(o, p[i].windows[j].limit);
            lit(",\"width\":");
            w = ngx_http_ngsp_status_width(p[i].windows[j].unit);
            if (w) {
                ngx_http_ngsp_status_u64(o, w);
            } else {
                lit("null");
            }
            lit("}");
        }

        lit("]}");
    }

    lit("}");
}


/*
 * "name": {"requests", "jwt": {every outcome}, "quota": {each policy it
 * met: outcomes and the windows' last state}}
 */
static void
ngx_http_ngsp_status_json_agency(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf, const u_char *name, size_t len,
    uint64_t *c)
{
    uint64_t              v[NGSP_JWT_STATUS_MAX], sum, *q, *w;
    ngx_uint_t            i, j, k, np, first;
    ngsp_quota_policy_t  *p;

    for (i = 0, sum = 0; i < NGSP_JWT_STATUS_MAX; i++) {
        v[i] = ngsp_status_get(&c[NGX_HTTP_NGSP_STATUS_JWT + i]);
        sum += v[i];
    }

    ngx_http_ngsp_status_json_str(o, name, len);
    lit(":{\"requests\":");
    ngx_http_ngsp_status_u64(o, sum);
    lit(",\"jwt\":{");

    for (i = 0; i < NGSP_JWT_STATUS_MAX; i++) {
        if (i) {
            lit(",");
        }
        str(ngsp_jwt_status_name(i));
        lit(":");
        ngx_http_ngsp_status_u64(o, v[i]);
    }

    lit("},\"quota\":{");

    np = mcf->policies ? mcf->policies->nelts : 0;
    p = np ? mcf->policies->elts : NULL;
    first = 1;

    for (i = 0; i < np; i++) {
        q = c + mcf->policy_base[i];

        for (j = 0, sum = 0; j < NGX_HTTP_NGSP_STATUS_OUTCOMES; j++) {
            sum += ngsp_status_get(&q[j]);
        }

        /* only the policies this agency met */
        if (sum == 0) {
            continue;
        }

        if (!first) {
            lit(",");
        }
        first = 0;

        str(p[i].name);
        lit(":{");

        for (j = 0; j < NGX_HTTP_NGSP_STATUS_OUTCOMES; j++) {
            if (j) {
                lit(",");
            }
            str(ngx_http_ngsp_status_outcome_name(j));
            lit(":");
            ngx_http_ngsp_status_u64(o, ngsp_status_get(&q[j]));
        }

        lit(",\"windows\":{");

        for (j = 0, k = 0; j < p[i].nwindows; j++) {
            w = q + NGX_HTTP_NGSP_STATUS_OUTCOMES
                + j * NGX_HTTP_NGSP_STATUS_WINDOW;

            if (ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_UPDATED]) == 0) {
                continue;
            }

            if (k++) {
                lit(",");
            }

            str(ngsp_quota_unit_name(p[i].windows[j].unit));
            lit(":{\"limit\":");
            ngx_http_ngsp_status_u64(o,
                ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_LIMIT]));
            lit(",\"remaining\":");
            ngx_http_ngsp_status_u64(o,
                ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_REMAINING]));
            lit(",\"reset\":");
            ngx_http_ngsp_status_u64(o,
                ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_RESET]));
            lit(",\"updated\":");
            ngx_http_ngsp_status_u64(o,
                ngsp_status_get(&w[NGX_HTTP_NGSP_STATUS_UPDATED]));
            lit("}");
        }

        lit("}}");
    }

    lit("}}");
}


static void
ngx_http_ngsp_status_json_mask(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_status_main_conf_t *mcf)
{
    uint64_t    *c;
    ngx_uint_t   i, j, unknown;

    lit("{");

    for (i = 0; i < mcf->nprofiles; i++) {
        c = mcf->sh->mask + i * NGX_HTTP_NGSP_STATUS_MASK_N;
        unknown = (i == mcf->nprofiles - 1);

        /* names no profile has: only when some were met */
        if (unknown && ngsp_status_get(&c[NGX_HTTP_NGSP_STATUS_MASK_ERROR])
                       == 0)
        {
            continue;
        }

        if (i) {
            lit(",");
        }

        ngx_http_ngsp_status_json_str(o, mcf->profiles[i].data,
                                      mcf->profiles[i].len);
        lit(":{");

        for (j = 0; j < NGX_HTTP_NGSP_STATUS_MASK_N; j++) {
            if (j == NGX_HTTP_NGSP_STATUS_MASK_REFUSED) {
                lit(",\"refused\":{");

            } else if (j) {
                lit(",");
            }
            str(ngx_http_ngsp_status_mask_name(j));
            lit(":");
            ngx_http_ngsp_status_u64(o, ngsp_status_get(&c[j]));
        }

        lit("}}");
    }

    lit("}");
}


/*
 * "redis": {"server", "mode", "workers": [each worker's slot in use: its
 * connection (the node it talks to; with Sentinel, the sentinel it listens
 * to), counters and latency histogram]}; null without ngsp_redis
 */
static void
ngx_http_ngsp_status_json_redis(ngx_http_ngsp_status_out_t *o,
    ngx_http_ngsp_quota_main_conf_t *qmcf)
{
    u_char                       *p, *q, *last;
    size_t                        len;
    uint64_t                      pid;
    ngx_uint_t                    i, j, n, first;
    ngx_http_ngsp_redis_stats_t  *st;
    u_char                        nodes[NGX_HTTP_NGSP_REDIS_NODES_LEN];

    st = ngx_http_ngsp_redis_stats((ngx_cycle_t *) ngx_cycle, &n);

    if (qmcf->redis.name.len == 0 || st == NULL) {
        lit("null");
        return;
    }

    lit("{\"server\":");
    ngx_http_ngsp_status_json_str(o, qmcf->redis.name.data,
                                  qmcf->redis.name.len);
    lit(",\"mode\":");
    if (qmcf->redis.mode == NGX_HTTP_NGSP_REDIS_SENTINEL) {
        lit("\"sentinel\"");
    } else if (qmcf->redis.mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
        lit("\"cluster\"");
    } else {
        lit("\"single\"");
    }
    lit(",\"workers\":[");

    for (i = 0, first = 1; i < n; i++) {
        pid = st[i].pid;

        if (pid == 0) {
            continue;
        }

        if (!first) {
            lit(",");
        }
        first = 0;

        lit("{\"worker\":");
        ngx_http_ngsp_status_u64(o, i);
        lit(",\"pid\":");
        ngx_http_ngsp_status_u64(o, pid);
        lit(",\"connected\":");
        if (st[i].connected) {
            lit("true");
        } else {
            lit("false");
        }
        lit(",\"address\":");
        ngx_http_ngsp_status_json_str(o, st[i].address,
                                      ngx_strnlen(st[i].address,
                                                  sizeof(st[i].address)));
        lit(",\"sentinel\":");
        if (st[i].sentinel[0]) {
            ngx_http_ngsp_status_json_str(o, st[i].sentinel,
                                          ngx_strnlen(st[i].sentinel,
                                                      sizeof(st[i].sentinel)));
        } else {
            lit("null");
        }
        lit(",\"master_changes\":");
        ngx_http_ngsp_status_u64(o, st[i].master_changes);

        /* a cluster: the masters the worker holds connections to */
        if (qmcf->redis.mode == NGX_HTTP_NGSP_REDIS_CLUSTER) {
            lit(",\"nodes\":[");

            len = ngx_http_ngsp_redis_cluster_nodes(&st[i], nodes);
            p = nodes;
            last = nodes + len;

            while (p < last) {
                q = ngx_strlchr(p, last, ' ');
                if (q == NULL) {
                    q = last;
                }

                if (p != nodes) {
                    lit(",");
                }

                ngx_http_ngsp_status_json_str(o, p, q - p);
                p = q + 1;
            }

            lit("]");
        }

        lit(",\"connects\":");
        ngx_http_ngsp_status_u64(o, st[i].connects);
        lit(",\"reconnects\":");
        ngx_http_ngsp_status_u64(o, st[i].reconnects);
        lit(",\"timeouts\":");
        ngx_http_ngsp_status_u64(o, st[i].timeouts);
        lit(",\"errors\":");
        ngx_http_ngsp_status_u64(o, st[i].errors);
        lit(",\"commands\":");
        ngx_http_ngsp_status_u64(o, st[i].commands);

        lit(",\"latency\":{\"bounds_us\":[");
        for (j = 0; j < NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS - 1; j++) {
            if (j) {
                lit(",");
            }
            ngx_http_ngsp_status_u64(o,
                ngx_http_ngsp_redis_latency_bounds_us[j]);
        }

        lit("],\"counts\":[");
        for (j = 0; j < NGX_HTTP_NGSP_REDIS_LATENCY_BUCKETS; j++) {
            if (j) {
                lit(",");
            }
            ngx_http_ngsp_status_u64(o, st[i].latency[j]);
        }

        lit("],\"sum_us\":");
        ngx_http_ngsp_status_u64(o, st[i].latency_sum_us);
        lit("}}");
    }

    lit("]}");
}


/* "jwt_cache": {"hits", "misses", "entries"}; null without the cache */
static void
ngx_http_ngsp_status_json_cache(ngx_http_ngsp_status_out_t *o)
{
    ngx_http_ngsp_jwt_cache_stats_t  st;

    if (ngx_http_ngsp_jwt_cache_stats((ngx_cycle_t *) ngx_cycle, &st)
        != NGX_OK)
    {
        lit("null");
        return;
    }

    lit("{\"hits\":");
    ngx_http_ngsp_status_u64(o, st.hits);
    lit(",\"misses\":");
    ngx_http_ngsp_status_u64(o, st.misses);
    lit(",\"entries\":");
    ngx_http_ngsp_status_u64(o, st.entries);
    lit("}");
}


/*
 * "keys": [{"kid", "kty", "algs", "bits", "source", "not_after"}], in the
 * order they were loaded; kid null without one, not_after null but for a
 * certificate
 */
static void
ngx_http_ngsp_status_json_keys(ngx_http_ngsp_status_out_t *o)
{
    size_t                      i;
    ngx_uint_t                  a, first;
    ngsp_jwt_key_info_t         k;
    ngx_http_ngsp_main_conf_t  *jmcf;

    jmcf = ngx_http_get_module_main_conf(o->r, ngx_http_ngsp_module);

    /* this worker's set as the last fetch left it */
    (void) ngx_http_ngsp_jwks_sync(jmcf, o->r->connection->log);

    lit("[");

    for (i = 0;
         jmcf->keyset && ngsp_jwt_keyset_info(jmcf->keyset, i, &k) == 0;
         i++)
    {
        if (i) {
            lit(",");
        }

        lit("{\"kid\":");
        if (k.kid) {
            str(k.kid);
        } else {
            lit("null");
        }

        lit(",\"kty\":");
        str(k.kty ? k.kty : "");
        lit(",\"algs\":[");

        for (a = 1, first = 1; a < NGSP_ALG_MAX; a++) {
            if (!(k.algs & NGSP_ALG_BIT(a))) {
                continue;
            }

            if (!first) {
                lit(",");
            }
            first = 0;

            str(ngsp_jwt_alg_name(a));
        }

        lit("],\"bits\":");
        ngx_http_ngsp_status_i64(o, k.bits);
        lit(",\"source\":");
        str(k.source ? k.source : "");
        lit(",\"not_after\":");
        if (k.not_after) {
            ngx_http_ngsp_status_i64(o, k.not_after);
        } else {
            lit("null");
        }
        lit("}");
    }

    lit("]");
}


/*
 * "jwks": {"location", "fetched", "age", "generation", "last_result",
 * "last_error"}, or null without ngsp_jwt_key_request; fetched and age
 * null before the first good fetch
 */
static void
ngx_http_ngsp_status_json_jwks(ngx_http_ngsp_status_out_t *o)
{
    ngx_http_ngsp_jwks_info_t  in;

    if (ngx_http_ngsp_jwks_info(o->r, &in) != NGX_OK) {
        lit("null");
        return;
    }

    lit("{\"location\":");
    ngx_http_ngsp_status_json_str(o, in.location.data, in.location.len);
    lit(",\"fetched\":");

    if (in.fetched) {
        ngx_http_ngsp_status_i64(o, in.fetched);
        lit(",\"age\":");
        ngx_http_ngsp_status_i64(o, ngx_time() - in.fetched);

    } else {
        lit("null,\"age\":null");
    }

    lit(",\"generation\":");
    ngx_http_ngsp_status_u64(o, in.generation);
    lit(",\"last_result\":");
    str(in.last_result);
    lit(",\"last_error\":");

    if (in.last_error.len) {
        ngx_http_ngsp_status_json_str(o, in.last_error.data,
                                      in.last_error.len);
    } else {
        lit("null");
    }

    lit("}");
}
