/*
 * Verified-token cache in shared memory, so every worker skips the
 * signature check for a token any of them has verified.  Keyed by
 * SHA-256(key set digest || token): a reload with other keys never trusts
 * an old entry.  An entry lives no longer than the token's exp; the least
 * recently used entries make room when the zone is full.
 */

#include "ngx_http_ngsp_jwt.h"


#define NGX_HTTP_NGSP_JWT_CACHE_DIGEST  32


/* the counters change under the zone's lock and are read without it */
typedef struct {
    ngx_rbtree_t        rbtree;
    ngx_rbtree_node_t   sentinel;
    ngx_queue_t         lru;
    ngx_atomic_t        hits;
    ngx_atomic_t        misses;
    ngx_atomic_t        entries;
} ngx_http_ngsp_jwt_cache_sh_t;


typedef struct {
    ngx_rbtree_node_t   node;
    ngx_queue_t         queue;
    time_t              expire;
    u_char              digest[NGX_HTTP_NGSP_JWT_CACHE_DIGEST];
} ngx_http_ngsp_jwt_cache_node_t;


typedef struct {
    ngx_http_ngsp_jwt_cache_sh_t  *sh;
    ngx_slab_pool_t               *shpool;
} ngx_http_ngsp_jwt_cache_t;


static void
ngx_http_ngsp_jwt_cache_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_ngsp_jwt_cache_node_t   *n, *t;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            n = (ngx_http_ngsp_jwt_cache_node_t *) node;
            t = (ngx_http_ngsp_jwt_cache_node_t *) temp;

            p = (ngx_memcmp(n->digest, t->digest,
                            NGX_HTTP_NGSP_JWT_CACHE_DIGEST) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_ngsp_jwt_cache_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_ngsp_jwt_cache_t  *octx = data;

    size_t                      len;
    ngx_http_ngsp_jwt_cache_t  *ctx;

    ctx = zone->data;

    if (octx) {
        /* a reload keeps the entries; new keys change the digests anyway */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_calloc(ctx->shpool,
                              sizeof(ngx_http_ngsp_jwt_cache_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_ngsp_jwt_cache_rbtree_insert);
    ngx_queue_init(&ctx->sh->lru);

    len = sizeof(" in ngsp jwt cache \"\"") + zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in ngsp jwt cache \"%V\"%Z",
                &zone->shm.name);

    /* a full zone evicts quietly: that is what the LRU is for */
    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_ngsp_jwt_cache_init_conf(ngx_conf_t *cf,
    ngx_http_ngsp_main_conf_t *mcf)
{
    ngx_str_t                   name;
    ngx_http_ngsp_jwt_cache_t  *ctx;

    if (mcf->cache_size == 0) {
        return NGX_CONF_OK;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_ngsp_jwt_cache_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "ngsp_jwt_cache");

    mcf->cache = ngx_shared_memory_add(cf, &name, mcf->cache_size,
                                       &ngx_http_ngsp_module);
    if (mcf->cache == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->cache->init = ngx_http_ngsp_jwt_cache_init_zone;
    mcf->cache->data = ctx;

    return NGX_CONF_OK;
}


static ngx_http_ngsp_jwt_cache_node_t *
ngx_http_ngsp_jwt_cache_find(ngx_http_ngsp_jwt_cache_t *ctx, u_char *digest,
    ngx_rbtree_key_t key)
{
    ngx_int_t                        rc;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_ngsp_jwt_cache_node_t  *n;

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        n = (ngx_http_ngsp_jwt_cache_node_t *) node;
        rc = ngx_memcmp(digest, n->digest, NGX_HTTP_NGSP_JWT_CACHE_DIGEST);

        if (rc == 0) {
            return n;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_ngsp_jwt_cache_delete(ngx_http_ngsp_jwt_cache_t *ctx,
    ngx_http_ngsp_jwt_cache_node_t *n)
{
    ngx_queue_remove(&n->queue);
    ngx_rbtree_delete(&ctx->sh->rbtree, &n->node);
    ngx_slab_free_locked(ctx->shpool, n);
    ctx->sh->entries--;
}


static ngx_rbtree_key_t
ngx_http_ngsp_jwt_cache_key(u_char *digest)
{
    ngx_rbtree_key_t  key;

    ngx_memcpy(&key, digest, sizeof(key));
    return key;
}


/* NGX_OK: the token was verified under these keys and has not expired */
ngx_int_t
ngx_http_ngsp_jwt_cache_lookup(ngx_shm_zone_t *zone, u_char *digest)
{
    ngx_int_t                        rc;
    ngx_http_ngsp_jwt_cache_t       *ctx;
    ngx_http_ngsp_jwt_cache_node_t  *n;

    ctx = zone->data;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    n = ngx_http_ngsp_jwt_cache_find(ctx, digest,
                                     ngx_http_ngsp_jwt_cache_key(digest));
    if (n) {
        if (n->expire > ngx_time()) {
            ngx_queue_remove(&n->queue);
            ngx_queue_insert_head(&ctx->sh->lru, &n->queue);
            rc = NGX_OK;

        } else {
            ngx_http_ngsp_jwt_cache_delete(ctx, n);
        }
    }

    if (rc == NGX_OK) {
        ctx->sh->hits++;

    } else {
        ctx->sh->misses++;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return rc;
}


void
ngx_http_ngsp_jwt_cache_insert(ngx_shm_zone_t *zone, u_char *digest,
    time_t expire)
{
    ngx_uint_t                       i;
    ngx_queue_t                     *q;
    ngx_rbtree_key_t                 key;
    ngx_http_ngsp_jwt_cache_t       *ctx;
    ngx_http_ngsp_jwt_cache_node_t  *n;

    ctx = zone->data;
    key = ngx_http_ngsp_jwt_cache_key(digest);

    ngx_shmtx_lock(&ctx->shpool->mutex);

    if (ngx_http_ngsp_jwt_cache_find(ctx, digest, key)) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
        return;
    }

    /* drop a couple of expired entries from the cold end as we go */
    for (i = 0; i < 2 && !ngx_queue_empty(&ctx->sh->lru); i++) {
        q = ngx_queue_last(&ctx->sh->lru);
        n = ngx_queue_data(q, ngx_http_ngsp_jwt_cache_node_t, queue);
        if (n->expire > ngx_time()) {
            break;
        }
        ngx_http_ngsp_jwt_cache_delete(ctx, n);
    }

    for ( ;; ) {
        n = ngx_slab_alloc_locked(ctx->shpool,
                                  sizeof(ngx_http_ngsp_jwt_cache_node_t));
        if (n || ngx_queue_empty(&ctx->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->lru);
        ngx_http_ngsp_jwt_cache_delete(ctx,
                ngx_queue_data(q, ngx_http_ngsp_jwt_cache_node_t, queue));
    }

    if (n) {
        n->node.key = key;
        n->expire = expire;
        ngx_memcpy(n->digest, digest, NGX_HTTP_NGSP_JWT_CACHE_DIGEST);
        ngx_rbtree_insert(&ctx->sh->rbtree, &n->node);
        ngx_queue_insert_head(&ctx->sh->lru, &n->queue);
        ctx->sh->entries++;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


ngx_int_t
ngx_http_ngsp_jwt_cache_stats(ngx_cycle_t *cycle,
    ngx_http_ngsp_jwt_cache_stats_t *st)
{
    ngx_http_ngsp_main_conf_t     *mcf;
    ngx_http_ngsp_jwt_cache_t     *ctx;
    ngx_http_ngsp_jwt_cache_sh_t  *sh;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_ngsp_module);

    if (mcf == NULL || mcf->cache == NULL) {
        return NGX_DECLINED;
    }

    ctx = mcf->cache->data;
    sh = ctx->sh;

    if (sh == NULL) {
        return NGX_DECLINED;
    }

    st->hits = sh->hits;
    st->misses = sh->misses;
    st->entries = sh->entries;

    return NGX_OK;
}
