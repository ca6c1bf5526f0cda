#ifndef NGSP_B64URL_H
#define NGSP_B64URL_H

#include <stddef.h>

/* decoded size upper bound for len input characters */
#define ngsp_b64url_decoded_max(len)  (((len) / 4) * 3 + 3)

/*
 * Strict base64url (RFC 4648 §5) without padding, as JWS uses it: no '=',
 * no whitespace, no length of 4n+1, and unused trailing bits must be zero
 * so that every byte string has exactly one encoding.
 * Returns the decoded length, or -1.
 */
long ngsp_b64url_decode(unsigned char *dst, const char *src, size_t len);

/* returns the encoded length; dst needs ((len + 2) / 3) * 4 bytes */
size_t ngsp_b64url_encode(char *dst, const unsigned char *src, size_t len);

#endif /* NGSP_B64URL_H */
