/*
 * ngsp status, the Prometheus text exposition format (version 0.0.4):
 * each family once, with its # HELP and # TYPE, all its samples together;
 * label values escaped by ngsp_status_text.c.  Counters of an agency that
 * are zero are left out (a series appears with its first count).
 */

#include "ngx_http_ngsp_status.h"
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
                lit(",outcome=");
                label(ngx_http_ngsp_status_mask_name(j));
            }

            lit("} ");
            ngx_http_ngsp_status_u64(o, ngsp_status_get(&c[j]));
            lit("\n");
        }
    }
}
