/* resp.h - writing Redis commands in RESP.
 *
 * A command is written into an rmig_out buffer as a RESP array of bulk
 * strings. Arguments that arrive in pieces (a RESTORE payload assembled from
 * the parser's raw pieces and its footer) are written with a known total
 * length first, then their bytes as they come. This is the encoding every
 * writer shares: command files for `redis-cli --pipe` now, the pipelined
 * sinks later. */
#ifndef RMIG_RESP_H
#define RMIG_RESP_H

#include "out.h"

#include <stddef.h>
#include <stdint.h>

/* "*argc\r\n" */
void rmig_resp_array(rmig_out *o, size_t argc);
/* one whole bulk string: "$len\r\n<bytes>\r\n" */
void rmig_resp_bulk(rmig_out *o, const void *p, size_t len);
void rmig_resp_bulk_str(rmig_out *o, const char *s);
void rmig_resp_bulk_i64(rmig_out *o, int64_t v);
/* a bulk string written in parts: its header, its bytes (any number of
 * calls adding up to len), then its end */
void rmig_resp_bulk_begin(rmig_out *o, size_t len);
void rmig_resp_bulk_end(rmig_out *o);
/* a whole command from C strings (tests, fixed commands) */
void rmig_resp_cmd(rmig_out *o, size_t argc, const char *const *argv);

/* RESTORE's trailing options: [REPLACE] [ABSTTL when expire_ms >= 0]
 * [IDLETIME idle_s | FREQ freq when given (>= 0)], and how many arguments
 * they make (for the array header). */
void rmig_resp_restore_opts(rmig_out *o, int replace, int64_t expire_ms, int64_t idle_s, int freq);
size_t rmig_resp_restore_optc(int replace, int64_t expire_ms, int64_t idle_s, int freq);
/* SLOTSRESTORE key ttl, the head of a codis-proxy's RESTORE (array of 4:
 * the caller writes the payload's bulk): its TTL in ms from now_ms, 0 for
 * none (an expire time already past becomes 1 ms). */
void rmig_resp_slotsrestore_head(rmig_out *o, const void *key, size_t klen, int64_t expire_ms, int64_t now_ms);
int64_t rmig_resp_slotsrestore_ttl(int64_t expire_ms, int64_t now_ms);

#endif
