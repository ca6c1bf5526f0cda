/*
 * A worker's memo of tokens it has already parsed and verified: a hit
 * skips base64, JSON parsing and the shared cache's SHA-256 and lock.
 * Direct-mapped and small; entries hold a copy of the token (compared in
 * full, so a hash collision costs a miss, never a wrong answer) and the
 * parsed header and claims, shared by reference with requests.
 */

#ifndef NGSP_JWT_MEMO_H
#define NGSP_JWT_MEMO_H

#include <time.h>

#include "ngsp_jwt.h"


typedef struct ngsp_jwt_memo_s  ngsp_jwt_memo_t;


ngsp_jwt_memo_t *ngsp_jwt_memo_new(size_t slots);
void ngsp_jwt_memo_free(ngsp_jwt_memo_t *memo);

/* 1 and *jwt filled (with its own references) on a live hit, 0 otherwise */
int ngsp_jwt_memo_get(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    time_t now, ngsp_jwt_t *jwt);

/*
 * The memo's own parse of a live token, or NULL: borrowed, so valid only
 * until the memo next changes (a put, or the memo freed); for a check
 * made and finished before anything else runs in the worker.
 */
const ngsp_jwt_t *ngsp_jwt_memo_peek(ngsp_jwt_memo_t *memo,
    const char *token, size_t len, time_t now);

/* remembers a verified token until expire */
void ngsp_jwt_memo_put(ngsp_jwt_memo_t *memo, const char *token, size_t len,
    const ngsp_jwt_t *jwt, time_t expire);

#endif /* NGSP_JWT_MEMO_H */
