/*
 * ngsp status text: the escaping and number formatting of the status
 * output (JSON strings, Prometheus label values).  Plain C, no nginx
 * headers.  Names come from tokens and so from outside: whatever their
 * bytes, the output is valid UTF-8 with no raw control byte, quote or
 * backslash.
 */

#ifndef NGSP_STATUS_TEXT_H
#define NGSP_STATUS_TEXT_H

#include <stddef.h>
#include <stdint.h>


/* room the escaped forms of len bytes may need */
#define NGSP_STATUS_JSON_MAX(len)   ((len) * 6)
#define NGSP_STATUS_PROM_MAX(len)   ((len) * 3)

/* room for any number the functions below write */
#define NGSP_STATUS_NUM_MAX         32


/*
 * The inside of a JSON string (no quotes): '"', '\\' and control bytes
 * escaped (\n, \t, ..., \u00XX), bytes that are not valid UTF-8 replaced
 * by \ufffd.  Returns the length written.
 */
size_t ngsp_status_json_escape(char *out, const unsigned char *s, size_t len);

/*
 * A Prometheus label value (no quotes): '\\', '"' and newline escaped as
 * the text format says; other control bytes and bytes that are not valid
 * UTF-8, which it has no escape for, replaced by U+FFFD.
 */
size_t ngsp_status_prom_escape(char *out, const unsigned char *s, size_t len);

/* decimal forms; each returns the length written */
size_t ngsp_status_u64(char *out, uint64_t v);
size_t ngsp_status_i64(char *out, int64_t v);

/* v millionths as a decimal fraction: 1500000 -> "1.5", 250 -> "0.00025" */
size_t ngsp_status_micro(char *out, int64_t v);

#endif /* NGSP_STATUS_TEXT_H */
