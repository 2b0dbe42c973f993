/* rdb_stream.c - walking a stream value (types 15, 19, 21, 26).
 *
 * A stream is a sequence of listpack nodes keyed by their master ID, then
 * metadata, consumer groups with their PELs and consumers, and (type 26) the
 * idempotent-producer tables; shared/docs/RDB-FORMAT.md §8.6 has the layout.
 * Each node's listpack is iterated entry by entry: a master entry naming the
 * fields, then entries stored as ID deltas, either with their own field names
 * or, with the SAMEFIELDS flag, with values for the master fields. Deleted
 * entries stay in the listpack as tombstones and are skipped. */
#include "rdb_internal.h"

#include <string.h>

enum {
    SP_START = 0,
    SP_NODE_KEY,   /* n[0] nodes left */
    SP_NODE_LP,    /* read the node's listpack */
    SP_MASTER,     /* its master entry */
    SP_ENTRY,      /* the next entry's header */
    SP_ENTRY_KV,   /* its fields and values: n[1] pairs left, bph 0 field / 1 value */
    SP_ENTRY_END,  /* its lp-count */
    SP_META,
    SP_GROUP,      /* n[0] groups left */
    SP_PEL,        /* n[1] group PEL entries left */
    SP_CONSUMERS,  /* how many consumers */
    SP_CONSUMER,   /* n[2] consumers left */
    SP_CPEL,       /* n[3] consumer PEL ids left */
    SP_IDMP,
    SP_PRODUCER,   /* n[0] producers left */
    SP_IID,        /* n[1] iids left */
    SP_IDMP_END,
    SP_END,
};

enum { STREAM_ITEM_DELETED = 1, STREAM_ITEM_SAMEFIELDS = 2 };

static int emit(rmig_rdb *p, int ev)
{
    return p->want_elems ? ev : R_AGAIN;
}

static int lp_int(rmig_rdb *p, int64_t *out)
{
    rmig_blob_val v;
    int r = rmig_blob_next(&p->it, &v);
    if (r <= 0 || rmig_blob_int(&v, out) < 0)
        return rmig__rdb_blob_corrupt(p, "a stream listpack entry that is missing or not a number");
    return 0;
}

static int read_id(rmig_rdb *p, cur *c, rmig_rdb_id *id)
{
    int r = rmig__rdb_len(p, c, &id->ms);
    return r ? r : rmig__rdb_len(p, c, &id->seq);
}

/* Entries of the current node's listpack. */
static int node_step(rmig_rdb *p, rmig_rdb_event *ev)
{
    int64_t x;
    int r;
    rmig_blob_val v;

    switch (p->ph) {
    case SP_MASTER: {
        int64_t count, deleted, nf;
        if ((r = lp_int(p, &count)) || (r = lp_int(p, &deleted)) || (r = lp_int(p, &nf)))
            return r;
        if (nf < 0)
            return rmig__rdb_blob_corrupt(p, "a negative master field count");
        p->mf_start = p->it;
        p->mf_n = (uint64_t)nf;
        for (int64_t i = 0; i < nf; i++)
            if (rmig_blob_next(&p->it, &v) <= 0)
                return rmig__rdb_blob_corrupt(p, "fewer master fields than announced");
        if ((r = lp_int(p, &x)))
            return r;
        p->ph = SP_ENTRY;
        return R_AGAIN;
    }
    case SP_ENTRY: {
        rmig_blob_it save = p->it;
        r = rmig_blob_next(&p->it, &v);
        if (r < 0)
            return rmig__rdb_blob_corrupt(p, "an entry that does not fit the blob");
        if (r == 0) {
            rmig__rdb_blob_done(p);
            p->n[0]--;
            p->ph = SP_NODE_KEY;
            return R_AGAIN;
        }
        p->it = save;
        int64_t flags, dms, dseq, nf;
        if ((r = lp_int(p, &flags)) || (r = lp_int(p, &dms)) || (r = lp_int(p, &dseq)))
            return r;
        if (flags & STREAM_ITEM_SAMEFIELDS) {
            nf = (int64_t)p->mf_n;
        } else if ((r = lp_int(p, &nf))) {
            return r;
        }
        if (nf < 0)
            return rmig__rdb_blob_corrupt(p, "a negative entry field count");
        p->ent_flags = (uint64_t)flags;
        p->ent_fields = (uint64_t)nf;
        p->ent_id.ms = p->master.ms + (uint64_t)dms;
        p->ent_id.seq = p->master.seq + (uint64_t)dseq;
        p->n[1] = (uint64_t)nf;
        p->bph = 0;
        p->ph = SP_ENTRY_KV;
        p->it.count = 0;
        if (flags & STREAM_ITEM_SAMEFIELDS)
            p->mfields = p->mf_start; /* a walker over the master fields, beside the values */
        if (flags & STREAM_ITEM_DELETED)
            return R_AGAIN;
        p->elements++;
        ev->u.entry.id = p->ent_id;
        ev->u.entry.nfields = (uint64_t)nf;
        return emit(p, RMIG_RDB_EV_STREAM_ENTRY);
    }
    case SP_ENTRY_KV: {
        int same = (p->ent_flags & STREAM_ITEM_SAMEFIELDS) != 0;
        int deleted = (p->ent_flags & STREAM_ITEM_DELETED) != 0;
        if (p->n[1] == 0) {
            p->ph = SP_ENTRY_END;
            return R_AGAIN;
        }
        int is_value = same || p->bph == 1;
        if (same) {
            /* the field name comes from the master entry */
            if (p->bph == 0) {
                rmig_blob_val f;
                if (rmig_blob_next(&p->mfields, &f) <= 0)
                    return rmig__rdb_blob_corrupt(p, "a SAMEFIELDS entry with more values than master fields");
                p->bph = 1;
                if (!deleted) {
                    /* the master walker's buffer stays valid until its next step */
                    ev->str = f.s;
                    ev->len = f.len;
                    ev->role = RMIG_RDB_STREAM_FIELD;
                    ev->u.piece.off = 0;
                    ev->u.piece.total = f.len;
                    ev->u.piece.last = 1;
                    return emit(p, RMIG_RDB_EV_STR);
                }
            }
        }
        r = rmig_blob_next(&p->it, &v);
        if (r <= 0)
            return rmig__rdb_blob_corrupt(p, "a stream entry with fewer fields than announced");
        if (is_value) {
            p->n[1]--;
            p->bph = 0;
        } else {
            p->bph = 1;
        }
        if (deleted)
            return R_AGAIN;
        ev->str = v.s;
        ev->len = v.len;
        ev->role = is_value ? RMIG_RDB_STREAM_VALUE : RMIG_RDB_STREAM_FIELD;
        ev->u.piece.off = 0;
        ev->u.piece.total = v.len;
        ev->u.piece.last = 1;
        return emit(p, RMIG_RDB_EV_STR);
    }
    default: /* SP_ENTRY_END */
        if ((r = lp_int(p, &x)))
            return r;
        p->ph = SP_ENTRY;
        return R_AGAIN;
    }
}

int rmig__rdb_stream_step(rmig_rdb *p, rmig_rdb_event *ev)
{
    int r;
    cur c = rmig__rdb_cur(p);
    int t = p->type;
    const uint8_t *b;

    switch (p->ph) {
    case SP_START:
        if ((r = rmig__rdb_len(p, &c, &p->n[0])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = SP_NODE_KEY;
        return R_AGAIN;
    case SP_NODE_KEY: {
        if (p->n[0] == 0) {
            p->ph = SP_META;
            return R_AGAIN;
        }
        const uint8_t *s;
        size_t len;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &s, &len)))
            return r;
        if (len != 16)
            return rmig__rdb_fail(p, RMIG_ECORRUPT, rmig__rdb_off(p),
                                  "stream node key is %zu bytes, not 16", len);
        p->master.ms = rmig__be64(s);
        p->master.seq = rmig__be64(s + 8);
        rmig__rdb_take(p, &c);
        p->ph = SP_NODE_LP;
        return R_AGAIN;
    }
    case SP_NODE_LP:
        if (!p->want_elems && !p->want_count) {
            r = rmig__rdb_str(p, ev, 0, 0);
            if (p->str_done) {
                p->n[0]--;
                p->ph = SP_NODE_KEY;
            }
            return r;
        }
        if ((r = rmig__rdb_blob(p, RMIG_BLOB_LISTPACK)) < 0)
            return r;
        p->ph = SP_MASTER;
        return R_AGAIN;
    case SP_MASTER:
    case SP_ENTRY:
    case SP_ENTRY_KV:
    case SP_ENTRY_END:
        return node_step(p, ev);
    case SP_META: {
        rmig_rdb_id last, first = {0, 0}, maxdel = {0, 0};
        uint64_t length, added = 0, ngroups;
        if ((r = rmig__rdb_len(p, &c, &length)) || (r = read_id(p, &c, &last)))
            return r;
        if (t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_2) {
            if ((r = read_id(p, &c, &first)) || (r = read_id(p, &c, &maxdel)) ||
                (r = rmig__rdb_len(p, &c, &added)))
                return r;
        }
        if ((r = rmig__rdb_len(p, &c, &ngroups)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[0] = ngroups;
        p->ph = SP_GROUP;
        ev->u.meta.length = length;
        ev->u.meta.last_id = last;
        ev->u.meta.first_id = first;
        ev->u.meta.max_deleted_id = maxdel;
        ev->u.meta.entries_added = added;
        ev->u.meta.v2 = t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_2;
        return emit(p, RMIG_RDB_EV_STREAM_META);
    }
    case SP_GROUP: {
        if (p->n[0] == 0) {
            p->ph = t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_4 ? SP_IDMP : SP_END;
            return R_AGAIN;
        }
        const uint8_t *s;
        size_t len;
        rmig_rdb_id last;
        uint64_t read = 0, npel;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &s, &len)) || (r = read_id(p, &c, &last)))
            return r;
        if (t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_2 && (r = rmig__rdb_len(p, &c, &read)))
            return r;
        if ((r = rmig__rdb_len(p, &c, &npel)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[0]--;
        p->n[1] = npel;
        p->ph = SP_PEL;
        ev->str = s;
        ev->len = len;
        ev->u.group.last_id = last;
        ev->u.group.entries_read = read;
        ev->u.group.has_entries_read = t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_2;
        return emit(p, RMIG_RDB_EV_STREAM_GROUP);
    }
    case SP_PEL: {
        if (p->n[1] == 0) {
            p->ph = SP_CONSUMERS;
            return R_AGAIN;
        }
        uint64_t count;
        const uint8_t *tm;
        if ((r = rmig__rdb_fixed(p, &c, 16, &b)) || (r = rmig__rdb_fixed(p, &c, 8, &tm)) ||
            (r = rmig__rdb_len(p, &c, &count)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[1]--;
        ev->u.pel.id.ms = rmig__be64(b);
        ev->u.pel.id.seq = rmig__be64(b + 8);
        ev->u.pel.delivery_ms = rmig__le64(tm);
        ev->u.pel.delivery_count = count;
        return emit(p, RMIG_RDB_EV_STREAM_PEL);
    }
    case SP_CONSUMERS:
        if ((r = rmig__rdb_len(p, &c, &p->n[2])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = SP_CONSUMER;
        return R_AGAIN;
    case SP_CONSUMER: {
        if (p->n[2] == 0) {
            p->ph = SP_GROUP;
            return R_AGAIN;
        }
        const uint8_t *s, *seen, *active = NULL;
        size_t len;
        uint64_t npel;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &s, &len)) || (r = rmig__rdb_fixed(p, &c, 8, &seen)))
            return r;
        if (t >= RMIG_RDB_TYPE_STREAM_LISTPACKS_3 && (r = rmig__rdb_fixed(p, &c, 8, &active)))
            return r;
        if ((r = rmig__rdb_len(p, &c, &npel)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[2]--;
        p->n[3] = npel;
        p->ph = SP_CPEL;
        ev->str = s;
        ev->len = len;
        ev->u.consumer.seen_ms = rmig__le64(seen);
        ev->u.consumer.active_ms = active ? rmig__le64(active) : 0;
        ev->u.consumer.has_active = active != NULL;
        return emit(p, RMIG_RDB_EV_STREAM_CONSUMER);
    }
    case SP_CPEL:
        if (p->n[3] == 0) {
            p->ph = SP_CONSUMER;
            return R_AGAIN;
        }
        if ((r = rmig__rdb_fixed(p, &c, 16, &b)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[3]--;
        ev->u.pel.id.ms = rmig__be64(b);
        ev->u.pel.id.seq = rmig__be64(b + 8);
        ev->u.pel.delivery_ms = 0;
        ev->u.pel.delivery_count = 0;
        return emit(p, RMIG_RDB_EV_STREAM_CPEL);
    case SP_IDMP:
        if ((r = rmig__rdb_len(p, &c, &p->idmp_duration)) ||
            (r = rmig__rdb_len(p, &c, &p->idmp_max)) || (r = rmig__rdb_len(p, &c, &p->n[0])))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = SP_PRODUCER;
        return R_AGAIN;
    case SP_PRODUCER: {
        if (p->n[0] == 0) {
            p->ph = SP_IDMP_END;
            return R_AGAIN;
        }
        const uint8_t *s;
        size_t len;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &s, &len)) || (r = rmig__rdb_len(p, &c, &p->n[1])))
            return r;
        rmig__rdb_take(p, &c);
        p->n[0]--;
        p->ph = SP_IID;
        ev->str = s;
        ev->len = len;
        return emit(p, RMIG_RDB_EV_STREAM_PRODUCER);
    }
    case SP_IID: {
        if (p->n[1] == 0) {
            p->ph = SP_PRODUCER;
            return R_AGAIN;
        }
        const uint8_t *s;
        size_t len;
        rmig_rdb_id id;
        if ((r = rmig__rdb_whole_str(p, &c, 0, &s, &len)) || (r = read_id(p, &c, &id)))
            return r;
        rmig__rdb_take(p, &c);
        p->n[1]--;
        ev->str = s;
        ev->len = len;
        ev->u.pel.id = id;
        ev->u.pel.delivery_ms = 0;
        ev->u.pel.delivery_count = 0;
        return emit(p, RMIG_RDB_EV_STREAM_IID);
    }
    case SP_IDMP_END: {
        uint64_t added, dups;
        if ((r = rmig__rdb_len(p, &c, &added)) || (r = rmig__rdb_len(p, &c, &dups)))
            return r;
        rmig__rdb_take(p, &c);
        p->ph = SP_END;
        ev->u.idmp.duration = p->idmp_duration;
        ev->u.idmp.max_entries = p->idmp_max;
        ev->u.idmp.iids_added = added;
        ev->u.idmp.iids_duplicates = dups;
        return emit(p, RMIG_RDB_EV_STREAM_IDMP);
    }
    default:
        return 1;
    }
}
