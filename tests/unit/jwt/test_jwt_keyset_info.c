/*
 * cmocka tests of what a key set tells about its keys: type, algorithms,
 * size, the file each came from and a certificate's expiry.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ngsp_jwt.h"
#include "jwt_sign.h"


#define ALGS_RSA  (NGSP_ALG_BIT(NGSP_ALG_RS256)                            \
                   | NGSP_ALG_BIT(NGSP_ALG_RS384)                            \
                   | NGSP_ALG_BIT(NGSP_ALG_RS512)                            \
                   | NGSP_ALG_BIT(NGSP_ALG_PS256)                            \
                   | NGSP_ALG_BIT(NGSP_ALG_PS384)                            \
                   | NGSP_ALG_BIT(NGSP_ALG_PS512))


static EVP_PKEY  *rsa, *ec256, *ec384, *ed;


static int
setup(void **state)
{
    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 3072);
    ec256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    return (rsa && ec256 && ec384 && ed) ? 0 : -1;
}


static int
teardown(void **state)
{
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec256);
    EVP_PKEY_free(ec384);
    EVP_PKEY_free(ed);
    return 0;
}


/* a self-signed certificate of pkey valid until not_after, as PEM */
static char *
cert_pem(EVP_PKEY *pkey, time_t not_after, size_t *len)
{
    BIO        *bio;
    X509       *x;
    char       *data, *pem;
    long        n;
    X509_NAME  *name;
    const EVP_MD  *md;

    x = X509_new();
    assert_non_null(x);

    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), 1000000000));
    assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), not_after));
    assert_int_equal(X509_set_pubkey(x, pkey), 1);

    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                         (const unsigned char *) "ngsp test", -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);

    /* Ed25519 signs without a separate digest */
    md = (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519) ? NULL
                                                          : EVP_sha256();
    assert_true(X509_sign(x, pkey, md) > 0);

    bio = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_X509(bio, x), 1);

    n = BIO_get_mem_data(bio, &data);
    pem = malloc((size_t) n + 1);
    memcpy(pem, data, (size_t) n);
    pem[n] = '\0';
    *len = (size_t) n;

    BIO_free(bio);
    X509_free(x);
    return pem;
}


/* data written to a new temporary file; its path, malloc'ed */
static char *
temp_file(const char *data, size_t len)
{
    int    fd;
    char  *path;

    path = strdup("/tmp/ngsp-keyset-info-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t) len);
    close(fd);
    return path;
}


/* adds the file and checks it gave n keys */
static void
add_file(ngsp_jwt_keyset_t *ks, const char *path, unsigned algs,
    const char *kid, int n)
{
    char  err[256];

    assert_int_equal(ngsp_jwt_keyset_add_file(ks, path, algs, kid, err,
                                              sizeof(err)), n);
}


static void
test_certificate_expiry_exact(void **state)
{
    char                *pem, *path;
    size_t               len, i;
    ngsp_jwt_keyset_t   *ks;
    ngsp_jwt_key_info_t  info;

    /* UTCTime (before 2050) and GeneralizedTime (from 2050 on) */
    static const time_t  expiry[] = { 1790000000, 2556143999 };

    for (i = 0; i < sizeof(expiry) / sizeof(expiry[0]); i++) {
        pem = cert_pem(rsa, expiry[i], &len);
        path = temp_file(pem, len);

        ks = ngsp_jwt_keyset_new();
        add_file(ks, path, 0, "cert", 1);

        assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), 0);
        assert_int_equal(info.not_after, (int64_t) expiry[i]);
        assert_string_equal(info.kid, "cert");
        assert_string_equal(info.kty, "RSA");
        assert_int_equal(info.algs, ALGS_RSA);
        assert_int_equal(info.bits, 3072);
        assert_string_equal(info.source, path);

        ngsp_jwt_keyset_free(ks);
        unlink(path);
        free(path);
        free(pem);
    }
}


static void
test_certificate_ec_and_ed25519(void **state)
{
    char                *pem, *path;
    size_t               len;
    ngsp_jwt_keyset_t   *ks;
    ngsp_jwt_key_info_t  info;

    ks = ngsp_jwt_keyset_new();

    pem = cert_pem(ec384, 1800000000, &len);
    path = temp_file(pem, len);
    add_file(ks, path, 0, NULL, 1);
    unlink(path);
    free(path);
    free(pem);

    pem = cert_pem(ed, 1800000001, &len);
    path = temp_file(pem, len);
    add_file(ks, path, 0, "ed", 1);
    unlink(path);

    assert_int_equal(ngsp_jwt_keyset_count(ks), 2);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), 0);
    assert_null(info.kid);
    assert_string_equal(info.kty, "EC");
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_ES384));
    assert_int_equal(info.bits, 384);
    assert_int_equal(info.not_after, 1800000000);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 1, &info), 0);
    assert_string_equal(info.kty, "OKP");
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_EDDSA));
    assert_int_equal(info.bits, 256);
    assert_int_equal(info.not_after, 1800000001);
    assert_string_equal(info.source, path);

    ngsp_jwt_keyset_free(ks);
    free(path);
    free(pem);
}


static void
test_public_keys_are_not_certificates(void **state)
{
    char                *pem, *path;
    size_t               len;
    ngsp_jwt_keyset_t   *ks;
    ngsp_jwt_key_info_t  info;

    ks = ngsp_jwt_keyset_new();

    pem = pubkey_pem(ec256, &len);
    path = temp_file(pem, len);
    add_file(ks, path, NGSP_ALG_BIT(NGSP_ALG_ES256), "p256", 1);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), 0);
    assert_string_equal(info.kid, "p256");
    assert_string_equal(info.kty, "EC");
    assert_int_equal(info.bits, 256);
    assert_int_equal(info.not_after, 0);
    assert_string_equal(info.source, path);

    /* added from memory: no file to name */
    assert_int_equal(ngsp_jwt_keyset_add(ks, (unsigned char *) pem, len, 0,
                                         NULL, NULL, 0), 1);
    assert_int_equal(ngsp_jwt_keyset_info(ks, 1, &info), 0);
    assert_null(info.source);
    assert_int_equal(info.not_after, 0);

    unlink(path);
    free(path);
    free(pem);
    ngsp_jwt_keyset_free(ks);
}


static void
test_secret_and_jwks(void **state)
{
    char                *path, *jwks_path;
    size_t               i;
    ngsp_jwt_keyset_t   *ks;
    ngsp_jwt_key_info_t  info;

    static const char  secret[] = "0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef\n";
    static const char  jwks[] =
        "{\"keys\":["
        "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":"
        "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
        "{\"kty\":\"oct\",\"kid\":\"b\",\"alg\":\"HS512\",\"k\":"
        "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVm"
        "MDEyMzQ1Njc4OWFiY2RlZg\"}]}";

    ks = ngsp_jwt_keyset_new();

    path = temp_file(secret, sizeof(secret) - 1);
    add_file(ks, path, NGSP_ALG_BIT(NGSP_ALG_HS384), "s", 1);

    jwks_path = temp_file(jwks, sizeof(jwks) - 1);
    add_file(ks, jwks_path, 0, NULL, 2);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), 0);
    assert_string_equal(info.kty, "oct");
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_HS384));
    /* the final newline is not part of the secret */
    assert_int_equal(info.bits, 48 * 8);
    assert_int_equal(info.not_after, 0);
    assert_string_equal(info.source, path);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 1, &info), 0);
    assert_string_equal(info.kid, "a");
    assert_int_equal(info.bits, 32 * 8);
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_HS256));
    assert_string_equal(info.source, jwks_path);

    assert_int_equal(ngsp_jwt_keyset_info(ks, 2, &info), 0);
    assert_string_equal(info.kid, "b");
    assert_int_equal(info.bits, 64 * 8);
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_HS512));
    assert_string_equal(info.source, jwks_path);

    /* past the end */
    assert_int_equal(ngsp_jwt_keyset_info(ks, 3, &info), -1);
    assert_int_equal(ngsp_jwt_keyset_info(ks, (size_t) -1, &info), -1);

    for (i = 0; i < ngsp_jwt_keyset_count(ks); i++) {
        assert_int_equal(ngsp_jwt_keyset_info(ks, i, &info), 0);
    }

    unlink(path);
    unlink(jwks_path);
    free(path);
    free(jwks_path);
    ngsp_jwt_keyset_free(ks);
}


/* a refused file leaves the set as it was */
static void
test_refused_file_adds_nothing(void **state)
{
    char                 err[256], *path;
    ngsp_jwt_keyset_t   *ks;
    ngsp_jwt_key_info_t  info;

    static const char  jwks[] =
        "{\"keys\":["
        "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":"
        "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
        "{\"kty\":\"oct\",\"kid\":\"short\",\"k\":\"MDEy\"}]}";

    ks = ngsp_jwt_keyset_new();
    path = temp_file(jwks, sizeof(jwks) - 1);

    assert_int_equal(ngsp_jwt_keyset_add_file(ks, path, 0, NULL, err,
                                              sizeof(err)), -1);
    assert_non_null(strstr(err, "too short"));
    assert_int_equal(ngsp_jwt_keyset_count(ks), 0);
    assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), -1);

    unlink(path);
    free(path);
    ngsp_jwt_keyset_free(ks);
}


/* a fetched JWKS: same refusals as a file, named by its source, whole */
static void
test_jwks_from_memory(void **state)
{
    char                 err[256], *pem;
    size_t               len;
    ngsp_jwt_keyset_t   *ks, *all;
    ngsp_jwt_key_info_t  info;
    unsigned char        d1[32];

    static const char  good[] =
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":"
        "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
    static const char  private[] =
        "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"p\",\"crv\":\"P-256\","
        "\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}]}";
    static const char  weak[] =
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"w\",\"k\":\"MDEy\"}]}";

    ks = ngsp_jwt_keyset_new();

    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) good,
                                              sizeof(good) - 1, "jwks:/_jwks",
                                              err, sizeof(err)), 1);
    assert_int_equal(ngsp_jwt_keyset_info(ks, 0, &info), 0);
    assert_string_equal(info.kid, "a");
    assert_string_equal(info.source, "jwks:/_jwks");
    memcpy(d1, ngsp_jwt_keyset_digest(ks), 32);

    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) private,
                                              sizeof(private) - 1, "j", err,
                                              sizeof(err)), -1);
    assert_non_null(strstr(err, "holds a private key"));

    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) weak,
                                              sizeof(weak) - 1, "j", err,
                                              sizeof(err)), -1);
    assert_non_null(strstr(err, "too short"));

    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) "<html>",
                                              6, "j", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a JWKS"));

    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) "{\"k",
                                              3, "j", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not valid JSON"));

    /* a PEM key is taken from a file, never from the network */
    pem = pubkey_pem(ec256, &len);
    assert_int_equal(ngsp_jwt_keyset_add_jwks(ks, (unsigned char *) pem, len,
                                              "j", err, sizeof(err)), -1);
    free(pem);

    /* the refusals left the set and its digest as they were */
    assert_int_equal(ngsp_jwt_keyset_count(ks), 1);
    assert_memory_equal(ngsp_jwt_keyset_digest(ks), d1, 32);

    /* a copy holds the same keys under the same digest */
    all = ngsp_jwt_keyset_new();
    assert_int_equal(ngsp_jwt_keyset_copy(all, ks, err, sizeof(err)), 0);
    assert_int_equal(ngsp_jwt_keyset_count(all), 1);
    assert_memory_equal(ngsp_jwt_keyset_digest(all), d1, 32);
    assert_int_equal(ngsp_jwt_keyset_info(all, 0, &info), 0);
    assert_string_equal(info.source, "jwks:/_jwks");
    assert_int_equal(info.algs, NGSP_ALG_BIT(NGSP_ALG_HS256));

    ngsp_jwt_keyset_free(ks);
    ngsp_jwt_keyset_free(all);
}


static void
test_alg_names(void **state)
{
    int  a;

    assert_string_equal(ngsp_jwt_alg_name(NGSP_ALG_RS256), "RS256");
    assert_string_equal(ngsp_jwt_alg_name(NGSP_ALG_EDDSA), "EdDSA");
    assert_string_equal(ngsp_jwt_alg_name(NGSP_ALG_MAX), "none");

    /* every name parses back to its algorithm */
    for (a = 1; a < NGSP_ALG_MAX; a++) {
        assert_int_equal(ngsp_jwt_alg_parse(ngsp_jwt_alg_name(a),
                                            strlen(ngsp_jwt_alg_name(a))),
                         a);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_certificate_expiry_exact),
        cmocka_unit_test(test_certificate_ec_and_ed25519),
        cmocka_unit_test(test_public_keys_are_not_certificates),
        cmocka_unit_test(test_secret_and_jwks),
        cmocka_unit_test(test_refused_file_adds_nothing),
        cmocka_unit_test(test_jwks_from_memory),
        cmocka_unit_test(test_alg_names),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
