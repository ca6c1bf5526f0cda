/*
 * ngsp masking: what keeps a masked response off the gateway's disk.
 *
 * An upstream response is masked by the body filter, after nginx's
 * upstream module has had its bytes: buffered, a response that a slow
 * client does not take spills to a temporary file, and a cache or a store
 * keeps the upstream's bytes for good, all unmasked.  So a response that
 * the masking takes is read unbuffered (as "X-Accel-Buffering: no" does):
 * nginx then holds one buffer of it (proxy_buffer_size) and reads on only
 * when the client has taken what was made of it.  A cache or a store in a
 * masked location is refused when the configuration is read.
 */

#include "ngx_http_ngsp_mask.h"


/*
 * The upstream settings (ngx_http_upstream_conf_t, public) of a module's
 * location configuration (private to it), NULL if the module has none.
 * An upstream module that can cache or store ("xxx_cache", "xxx_store")
 * has its "xxx_buffering" flag in those settings, and the flag's offset
 * in the command table locates them: proxy, fastcgi, uwsgi, scgi and any
 * module built the same way.
 */
static ngx_http_upstream_conf_t *
ngx_http_ngsp_mask_upstream_conf(ngx_module_t *m, void **loc_conf,
    u_char **prefix, size_t *len)
{
    size_t          n;
    u_char         *p;
    ngx_uint_t      disk;
    ngx_command_t  *cmd, *buffering;

    if (m->type != NGX_HTTP_MODULE || m->commands == NULL) {
        return NULL;
    }

    buffering = NULL;
    disk = 0;

    for (cmd = m->commands; cmd->name.len; cmd++) {

        p = (u_char *) ngx_strchr(cmd->name.data, '_');
        if (p == NULL) {
            continue;
        }

        n = p - cmd->name.data;

        if (cmd->name.len == n + sizeof("_buffering") - 1
            && ngx_strcmp(p, "_buffering") == 0
            && cmd->set == ngx_conf_set_flag_slot
            && cmd->conf == NGX_HTTP_LOC_CONF_OFFSET
            && cmd->offset >= offsetof(ngx_http_upstream_conf_t, buffering))
        {
            buffering = cmd;
            *prefix = cmd->name.data;
            *len = n;

        } else if (ngx_strcmp(p, "_cache") == 0
                   || ngx_strcmp(p, "_store") == 0)
        {
            disk = 1;
        }
    }

    if (buffering == NULL || !disk || loc_conf[m->ctx_index] == NULL) {
        return NULL;
    }

    return (ngx_http_upstream_conf_t *) ((u_char *) loc_conf[m->ctx_index]
               + buffering->offset
               - offsetof(ngx_http_upstream_conf_t, buffering));
}


/*
 * Postconfiguration, once every location is merged: no masked location
 * may cache or store (inherited settings included).  Whichever upstream
 * module serves it, a "proxy_cache" that applies there is refused too: it
 * costs a "proxy_cache off;" and never guesses which module answers.
 */
ngx_int_t
ngx_http_ngsp_mask_check_disk(ngx_conf_t *cf)
{
    size_t                           len;
    u_char                          *p, *prefix;
    const char                      *what;
    u_char                           where[256];
    ngx_uint_t                       i, m;
    ngx_module_t                   **modules;
    ngx_http_upstream_conf_t        *ucf;
    ngx_http_core_loc_conf_t        *clcf;
    ngx_http_ngsp_mask_masked_t     *loc;
    ngx_http_ngsp_mask_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_ngsp_mask_filter_module);

    if (mcf->masked == NULL) {
        return NGX_OK;
    }

    modules = cf->cycle->modules;
    loc = mcf->masked->elts;
    prefix = NULL;
    len = 0;

    for (i = 0; i < mcf->masked->nelts; i++) {

        for (m = 0; modules[m]; m++) {

            ucf = ngx_http_ngsp_mask_upstream_conf(modules[m],
                                                   loc[i].loc_conf,
                                                   &prefix, &len);
            if (ucf == NULL) {
                continue;
            }

            what = NULL;

#if (NGX_HTTP_CACHE)
            if (ucf->cache > 0) {
                what = "_cache";
            }
#endif

            if (ucf->store > 0) {
                what = "_store";
            }

            if (what == NULL) {
                continue;
            }

            clcf = loc[i].loc_conf[ngx_http_core_module.ctx_index];

            if (clcf->name.len) {
                p = ngx_snprintf(where, sizeof(where) - 1, "location \"%V\"",
                                 &clcf->name);
            } else {
                p = ngx_cpymem(where, "server{}", sizeof("server{}") - 1);
            }

            *p = '\0';

            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "ngsp: \"%*s%s\" applies to the masked %s in "
                          "%s:%ui: it would keep the upstream's unmasked "
                          "records on disk; set \"%*s%s off\" there",
                          len, prefix, what, where,
                          loc[i].lcf->file ? loc[i].lcf->file
                                           : (u_char *) "?",
                          loc[i].lcf->line, len, prefix, what);

            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Header filter, for a response the masking takes (masked or refused):
 * its body is read unbuffered, never cached nor stored.  nginx reads
 * u->buffering right after the header is sent; unbuffered, it frees a
 * cache entry being made and stores nothing.  cacheable and store are
 * cleared as well, for an upstream module the configuration check does
 * not know.  1: the buffering was on, and is off now.
 */
ngx_uint_t
ngx_http_ngsp_mask_unbuffer(ngx_http_request_t *r)
{
    ngx_uint_t            was;
    ngx_http_upstream_t  *u;

    static ngx_uint_t     warned;

    u = r->upstream;

    if (u == NULL || u->header_sent) {
        return 0;
    }

    if ((u->cacheable || u->store) && !warned) {
        warned = 1;
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "ngsp: a masked response is neither cached nor "
                      "stored (this is logged once per worker)");
    }

    was = u->buffering;

    u->buffering = 0;
    u->cacheable = 0;
    u->store = 0;

    return was;
}
