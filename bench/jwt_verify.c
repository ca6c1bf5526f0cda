/*
 * Micro-benchmark of one cold JWT verification (RS256, ES256), side by side:
 *
 *   openssl  EVP_DigestVerify with the key and signature already decoded:
 *            the floor, nothing a JWT library can do is cheaper
 *   ngsp     ngsp_jwt_parse + ngsp_jwt_verify + ngsp_jwt_free: what a
 *            cache miss costs the module (base64, JSON, key choice, verify)
 *   libjwt   jwt_decode + jwt_free with the PEM key, as a naive module
 *            would call it
 *
 * Prints the median of several rounds in microseconds per token, and the
 * ratios.  Tokens are minted with OpenSSL (tests/unit/jwt/jwt_sign.c).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jwt.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>

#include "jwt_sign.h"
#include "ngsp_jwt.h"


#define ROUNDS  9


typedef struct {
    const char     *alg;
    const char     *token;
    const char     *pem;
    size_t          pem_len;
    EVP_PKEY       *pkey;
    unsigned char   der[256];       /* the signature as OpenSSL wants it */
    size_t          der_len;
    size_t          signed_len;
    ngsp_jwt_keyset_t  *ks;
} bench_t;


static double
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
cmp_double(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}


/* fetched once, as the engine does: OpenSSL 3's implicit fetch by
 * EVP_sha256() on every init would make the floor look slower than it is */
static EVP_MD  *sha256;


static void
run_openssl(bench_t *b)
{
    EVP_MD_CTX  *ctx = EVP_MD_CTX_new();

    EVP_DigestVerifyInit(ctx, NULL, sha256, NULL, b->pkey);
    if (EVP_DigestVerify(ctx, b->der, b->der_len,
                         (const unsigned char *) b->token, b->signed_len)
        != 1)
    {
        fprintf(stderr, "openssl verify failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
}


static void
run_ngsp(bench_t *b)
{
    ngsp_jwt_t  jwt;

    memset(&jwt, 0, sizeof(jwt));
    if (ngsp_jwt_parse(&jwt, b->token, strlen(b->token)) != NGSP_JWT_OK
        || ngsp_jwt_verify(b->ks, &jwt, b->token) != NGSP_JWT_OK)
    {
        fprintf(stderr, "ngsp verify failed\n");
        exit(1);
    }
    ngsp_jwt_free(&jwt);
}


static void
run_libjwt(bench_t *b)
{
    jwt_t  *jwt = NULL;

    if (jwt_decode(&jwt, b->token, (const unsigned char *) b->pem,
                   (int) b->pem_len) != 0)
    {
        fprintf(stderr, "libjwt verify failed\n");
        exit(1);
    }
    jwt_free(jwt);
}


/* microseconds per call of fn, over n calls */
static double
measure(void (*fn)(bench_t *), bench_t *b, int n)
{
    int     i;
    double  start;

    start = now_us();
    for (i = 0; i < n; i++) {
        fn(b);
    }
    return (now_us() - start) / n;
}


static double
median(double *v, int n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return v[n / 2];
}


static void
setup(bench_t *b, const char *alg, EVP_PKEY *pkey)
{
    char            err[256];
    const char     *dot;
    unsigned char   raw[256];
    long            raw_len;
    size_t          n;
    ECDSA_SIG      *es;
    unsigned char  *p;

    b->alg = alg;
    b->pkey = pkey;
    /* a kid and a realistic claim set */
    {
        char  header[64];

        snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"kid\":\"k1\"}",
                 alg);
        b->token = mint(alg, pkey, NULL, 0, header,
            "{\"iss\":\"https://lgsp.example.gov.vn\",\"aud\":\"resident-api\","
            "\"client_id\":\"ubnd-tinh-thai-binh\",\"scope\":\"openid "
            "dancu.read\",\"iat\":1764000000,\"exp\":4102444800}");
    }

    b->pem = pubkey_pem(pkey, &b->pem_len);

    b->ks = ngsp_jwt_keyset_new();
    if (ngsp_jwt_keyset_add(b->ks, (const unsigned char *) b->pem, b->pem_len,
                            0, "k1", err, sizeof(err)) != 1)
    {
        fprintf(stderr, "keyset: %s\n", err);
        exit(1);
    }

    dot = strrchr(b->token, '.');
    b->signed_len = (size_t) (dot - b->token);
    raw_len = ngsp_b64url_decode(raw, dot + 1, strlen(dot + 1));

    if (strncmp(alg, "ES", 2) == 0) {
        n = (size_t) raw_len / 2;
        es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(raw, (int) n, NULL),
                       BN_bin2bn(raw + n, (int) n, NULL));
        p = b->der;
        b->der_len = (size_t) i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);

    } else {
        memcpy(b->der, raw, (size_t) raw_len);
        b->der_len = (size_t) raw_len;
    }
}


/* rounds interleave the three so that drift on a noisy machine hits them
 * alike; ratios are medians of the per-round ratios */
static void
report(const char *alg, EVP_PKEY *pkey, int n)
{
    int      r;
    bench_t  b;
    double   o[ROUNDS], g[ROUNDS], l[ROUNDS], go[ROUNDS], lg[ROUNDS];

    memset(&b, 0, sizeof(b));
    setup(&b, alg, pkey);

    for (r = 0; r < ROUNDS; r++) {
        o[r] = measure(run_openssl, &b, n);
        g[r] = measure(run_ngsp, &b, n);
        l[r] = measure(run_libjwt, &b, n / 10 + 1);
        go[r] = g[r] / o[r];
        lg[r] = l[r] / g[r];
    }

    printf("%-6s  openssl %6.1f us   ngsp %6.1f us (%.2fx openssl)   "
           "libjwt jwt_decode %6.1f us (ngsp %.1fx faster)\n",
           alg, median(o, ROUNDS), median(g, ROUNDS), median(go, ROUNDS),
           median(l, ROUNDS), median(lg, ROUNDS));

    ngsp_jwt_keyset_free(b.ks);
    free((void *) b.token);
    free((void *) b.pem);
}


int
main(int argc, char **argv)
{
    int        n = argc > 1 ? atoi(argv[1]) : 2000;
    EVP_PKEY  *rsa, *ec;

    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (ngsp_jwt_crypto_init() != 0) {     /* as a worker does at start */
        fprintf(stderr, "ngsp_jwt_crypto_init failed\n");
        return 1;
    }

    rsa = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    if (rsa == NULL || ec == NULL) {
        fprintf(stderr, "key generation failed\n");
        return 1;
    }

    printf("one cold verification, median of %d rounds of %d tokens "
           "(libjwt: %d)\n", ROUNDS, n, n / 10 + 1);
    report("RS256", rsa, n);
    report("ES256", ec, n);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_MD_free(sha256);
    return 0;
}
