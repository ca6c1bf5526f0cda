#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngsp_jwt_memo.h"


/* tokens longer than this are not memoized (they are rare) */
#define NGSP_JWT_MEMO_MAX_TOKEN  4096


typedef struct {
    char            *token;
    size_t           len;
    time_t           expire;
    ngsp_jwt_t       jwt;
} ngsp_jwt_memo_slot_t;


struct ngsp_jwt_memo_s {
    size_t                 mask;
    ngsp_jwt_memo_slot_t  *slots;
};


ngsp_jwt_memo_t *
ngsp_jwt_memo_new(size_t slots)
{
    size_t            n;
    ngsp_jwt_memo_t  *memo;

    for (n = 1; n < slots; n <<= 1) { /* void */ }

    memo = calloc(1, sizeof(ngsp_jwt_memo_t));
    if (memo == NULL) {
        return NULL;
    }

    memo->slots = calloc(n, sizeof(ngsp_jwt_memo_slot_t));
    if (memo->slots == NULL) {
        free(memo);
        return NULL;
    }

    memo->mask = n - 1;
    return memo;
}


static void
ngsp_jwt_memo_clear(ngsp_jwt_memo_slot_t *s)
{
    free(s->token);
    ngsp_jwt_free(&s->jwt);
    memset(s, 0, sizeof(*s));
}


void
ngsp_jwt_memo_free(ngsp_jwt_memo_t *memo)
{
    size_t  i;

    if (memo == NULL) {
        return;
    }

    for (i = 0; i <= memo->mask; i++) {
        ngsp_jwt_memo_clear(&memo->slots[i]);
    }

    free(memo->slots);
    free(memo);
}


/*
 * The signature end of the token, where tokens differ, eight bytes at a
 * time (FNV-1a's steps on words), then mixed so that every bit reaches
 * the slot's index.
 */
static size_t
ngsp_jwt_memo_index(ngsp_jwt_memo_t *memo, const char *token, size_t len)
{
    size_t    i;
    uint64_t  h, w;

    h = 1469598103934665603ULL ^ len;
    i = len > 64 ? len - 64 : 0;

    for ( /* void */ ; i + 8 <= len; i += 8) {
        memcpy(&w, token + i, 8);
        h ^= w;
        h *= 1099511628211ULL;
    }

    for ( /* void */ ; i < len; i++) {
        h ^= (unsigned char) token[i];
        h *= 1099511628211ULL;
    }

    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;

    return (size_t) h & memo->mask;
}


static ngsp_jwt_memo_slot_t *
ngsp_jwt_memo_find(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    time_t now)
{
    ngsp_jwt_memo_slot_t  *s;

    s = &memo->slots[ngsp_jwt_memo_index(memo, token, len)];

    if (s->token == NULL || s->len != len
        || memcmp(s->token, token, len) != 0)
    {
        return NULL;
    }

    if (s->expire <= now) {
        ngsp_jwt_memo_clear(s);
        return NULL;
    }

    return s;
}


int
ngsp_jwt_memo_get(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    time_t now, ngsp_jwt_t *jwt)
{
    ngsp_jwt_memo_slot_t  *s;

    s = ngsp_jwt_memo_find(memo, token, len, now);
    if (s == NULL) {
        return 0;
    }

    *jwt = s->jwt;
    json_incref(jwt->header);
    json_incref(jwt->claims);

    /* the signature fields point into the memo's copy: not for callers */
    jwt->sig_b64 = NULL;
    jwt->sig_b64_len = 0;

    return 1;
}


const ngsp_jwt_t *
ngsp_jwt_memo_peek(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    time_t now)
{
    ngsp_jwt_memo_slot_t  *s;

    s = ngsp_jwt_memo_find(memo, token, len, now);

    return s ? &s->jwt : NULL;
}


void
ngsp_jwt_memo_put(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    const ngsp_jwt_t *jwt, time_t expire)
{
    ngsp_jwt_memo_slot_t  *s;

    if (len > NGSP_JWT_MEMO_MAX_TOKEN) {
        return;
    }

    s = &memo->slots[ngsp_jwt_memo_index(memo, token, len)];
    ngsp_jwt_memo_clear(s);

    s->token = malloc(len);
    if (s->token == NULL) {
        return;
    }

    memcpy(s->token, token, len);
    s->len = len;
    s->expire = expire;
    s->jwt = *jwt;
    s->jwt.sig_b64 = NULL;
    s->jwt.sig_b64_len = 0;
    json_incref(s->jwt.header);
    json_incref(s->jwt.claims);
}
