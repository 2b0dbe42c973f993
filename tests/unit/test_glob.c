/* test_glob.c - glob patterns: the cases people write, Redis' quirks, and a
 * pattern that takes a recursive matcher exponential time. */
#include "glob.h"
#include "testlib.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int m(const char *p, const char *s) { return rmig_glob_match((const uint8_t *)p, strlen(p), (const uint8_t *)s, strlen(s), 0); }

int main(void)
{
    CHECK("prefix globs match what they say", m("user:*", "user:1") && !m("user:*", "users:1"), "no");
    CHECK("suffix and middle stars", m("*:tmp", "a:b:tmp") && m("a*b*c", "aXXbYYc") && !m("a*b*c", "aXXcYYb"),
          "no");
    CHECK("? is exactly one byte", m("k?", "k1") && !m("k?", "k") && !m("k?", "k12"), "no");
    CHECK("classes, negation and ranges", m("k[0-9]", "k5") && !m("k[^0-9]", "k5") && m("k[abc]", "kb"), "no");
    CHECK("a reversed range is its sorted form", m("[9-0]", "5"), "no");
    CHECK("backslash escapes, inside classes too", m("a\\*b", "a*b") && !m("a\\*b", "aXb") && m("[\\]]", "]"),
          "no");
    CHECK("an unterminated class is closed at the end", m("k[ab", "ka") && !m("k[ab", "kc"), "no");
    CHECK("a trailing backslash is itself", m("a\\", "a\\"), "no");
    CHECK("an empty key matches only * and the empty pattern, as in KEYS",
          m("*", "") && m("", "") && !m("**", "") && !m("?", ""), "no");
    CHECK("binary keys match byte for byte",
          rmig_glob_match((const uint8_t *)"a*", 2, (const uint8_t *)"a\0\xff", 3, 0), "no");
    CHECK("nocase folds ASCII letters", rmig_glob_match((const uint8_t *)"USER:*", 6, (const uint8_t *)"user:1", 6, 1),
          "no");
    /* a*a*a*...b against 10000 a's: exponential for recursive matchers */
    static char s[10001];
    memset(s, 'a', 10000);
    clock_t t = clock();
    int r = m("a*a*a*a*a*a*a*a*a*a*a*a*b", s);
    double secs = (double)(clock() - t) / CLOCKS_PER_SEC;
    CHECK("a pathological pattern is refused quickly, not in exponential time", !r && secs < 2.0, "%.2f s", secs);
    return rmig_t_done();
}
