/* test_out.c - JSON encoding of strings and scores. */
#include "out.h"
#include "resp.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *enc(const char *s, size_t n)
{
    static char res[256];
    rmig_out o;
    rmig_out_init(&o, -1);
    rmig_out_json_bytes(&o, (const uint8_t *)s, n);
    snprintf(res, sizeof res, "%.*s", (int)o.len, o.buf);
    rmig_out_close(&o);
    return res;
}

static const char *score(double d)
{
    static char res[64];
    rmig_out o;
    rmig_out_init(&o, -1);
    rmig_out_json_score(&o, d);
    snprintf(res, sizeof res, "%.*s", (int)o.len, o.buf);
    rmig_out_close(&o);
    return res;
}

int main(void)
{
    CHECK("ASCII is a JSON string", !strcmp(enc("a\"b\\c\n", 6), "\"a\\\"b\\\\c\\n\""), "%s", enc("a\"b\\c\n", 6));
    CHECK("NUL is escaped", !strcmp(enc("a\0b", 3), "\"a\\u0000b\""), "%s", enc("a\0b", 3));
    CHECK("UTF-8 stays a string", !strcmp(enc("\xc3\xbc", 2), "\"\xc3\xbc\""), "%s", enc("\xc3\xbc", 2));
    CHECK("invalid UTF-8 becomes hex", !strcmp(enc("\xff\x01", 2), "{\"hex\":\"ff01\"}"), "%s", enc("\xff\x01", 2));
    CHECK("an overlong encoding is not UTF-8", !strcmp(enc("\xc0\xaf", 2), "{\"hex\":\"c0af\"}"), "%s",
          enc("\xc0\xaf", 2));
    CHECK("a surrogate is not UTF-8", !strcmp(enc("\xed\xa0\x80", 3), "{\"hex\":\"eda080\"}"), "%s",
          enc("\xed\xa0\x80", 3));
    CHECK("a truncated sequence is not UTF-8", !strcmp(enc("ab\xe2\x82", 4), "{\"hex\":\"6162e282\"}"), "%s",
          enc("ab\xe2\x82", 4));
    CHECK("scores print shortest", !strcmp(score(2.5), "\"2.5\"") && !strcmp(score(0.1), "\"0.1\""), "%s",
          score(0.1));
    CHECK("infinities print as Redis does", !strcmp(score(INFINITY), "\"inf\"") && !strcmp(score(-INFINITY), "\"-inf\""),
          "%s", score(-INFINITY));
    CHECK("minus zero prints as 0", !strcmp(score(-0.0), "\"0\""), "%s", score(-0.0));
    CHECK("a 17-digit score round-trips", !strcmp(score(1.0000000000000002), "\"1.0000000000000002\""), "%s",
          score(1.0000000000000002));
    rmig_out o;
    rmig_out_init(&o, -1);
    const char *argv[] = {"SET", "k", ""};
    rmig_resp_cmd(&o, 3, argv);
    rmig_resp_array(&o, 2);
    rmig_resp_bulk_i64(&o, -12);
    rmig_resp_bulk_begin(&o, 4);
    rmig_out_mem(&o, "a\r", 2);
    rmig_out_mem(&o, "\0b", 2);
    rmig_resp_bulk_end(&o);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*2\r\n$3\r\n-12\r\n$4\r\na\r\0b\r\n";
    CHECK("commands are written in RESP, binary arguments included, in parts too",
          o.len == sizeof want - 1 && !memcmp(o.buf, want, o.len), "%.*s", (int)o.len, o.buf);
    rmig_out_close(&o);
    return rmig_t_done();
}
