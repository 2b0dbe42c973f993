/* verify.h - `rmig verify PIPELINE.lua`: proof that the target holds what
 * the source holds, through the same pipeline that did the move.
 *
 * The runner reads the pipeline's source as `rmig run` would (an RDB file,
 * or a live server by SCAN + DUMP: a psync or cluster source is read that
 * way too) and passes every key through the pipeline's nodes, so a renamed
 * key is looked for under its new name, in its new db, and a dropped key is
 * not looked for. Instead of writing, each key is read from the target
 * (pipelined) and compared:
 *   - outline: existence, type, TTL (within a tolerance) and element count;
 *   - full: the value too, by a fingerprint of its logical content
 *     (vdigest.h), so a listpack-encoded hash equals a hashtable-encoded one.
 * Then the target's keys are scanned, and those the source does not explain
 * (after the pipeline) are counted, and with --extra listed: both sides'
 * key hashes go through sorted runs on disk, so memory does not grow with
 * the key count. With --rounds N, keys found different are checked again
 * after --delay seconds (read again from a live source too), so keys
 * changing in flight are reported only if they stay different.
 *
 * Exit code: 0 when there is no difference, 1 when there is one (or the
 * check could not be done), 2 for usage errors. */
#ifndef RMIG_VERIFY_H
#define RMIG_VERIFY_H

int rmig_verify_main(int argc, char **argv);

#endif
