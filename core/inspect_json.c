/* inspect_json.c - RDB events as JSON lines, one object per key.
 *
 * The value of a key is written while its events arrive, so a key with
 * millions of elements is never assembled in memory: arrays are opened at
 * RMIG_RDB_EV_KEY and closed at RMIG_RDB_EV_KEY_END. Two things are held per
 * key: a string that arrives in pieces (it must be whole to decide between a
 * JSON string and {"hex": …}), and the field TTLs of a hash, which the shape
 * in shared/corpus/README.md puts after all its fields. */
#include "inspect.h"

#include <stdlib.h>
#include <string.h>

static void acc_add(rmig_jw *w, const uint8_t *s, size_t n)
{
    if (w->acc_len + n > w->acc_cap) {
        size_t cap = w->acc_cap ? w->acc_cap : 4096;
        while (cap < w->acc_len + n)
            cap *= 2;
        uint8_t *b = realloc(w->acc, cap);
        if (!b) {
            fprintf(stderr, "rmig: out of memory for a %zu-byte string\n", w->acc_len + n);
            exit(1);
        }
        w->acc = b;
        w->acc_cap = cap;
    }
    memcpy(w->acc + w->acc_len, s, n);
    w->acc_len += n;
}

/* A string event, possibly one piece of a longer string: returns 1 with the
 * whole string in *s and *n once it is complete, 0 while pieces are pending. */
static int whole(rmig_jw *w, const rmig_rdb_event *e, const uint8_t **s, size_t *n)
{
    if (e->u.piece.off == 0 && e->u.piece.last) {
        *s = e->str;
        *n = e->len;
        return 1;
    }
    if (e->u.piece.off == 0)
        w->acc_len = 0;
    acc_add(w, e->str, e->len);
    if (!e->u.piece.last)
        return 0;
    *s = w->acc;
    *n = w->acc_len;
    return 1;
}

static void id_str(rmig_out *o, rmig_rdb_id id)
{
    rmig_out_printf(o, "\"%llu-%llu\"", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

static int ttl_form(int rdb_type)
{
    return rdb_type >= RMIG_RDB_TYPE_HASH_METADATA_PRE_GA && rdb_type <= RMIG_RDB_TYPE_HASH_LISTPACK_EX;
}

/* A score stored as text is printed as Redis wrote it, quoted; only a
 * negative zero is written as "0", as Redis reads it back. */
static void score_text(rmig_out *o, const uint8_t *s, size_t n)
{
    int zero = n > 1 && s[0] == '-';
    for (size_t i = 1; zero && i < n; i++)
        zero = s[i] == '0' || s[i] == '.';
    rmig_out_char(o, '"');
    if (zero)
        rmig_out_char(o, '0');
    else
        rmig_out_mem(o, s, n);
    rmig_out_char(o, '"');
}

void rmig_jw_init(rmig_jw *w, rmig_out *o)
{
    memset(w, 0, sizeof *w);
    w->o = o;
    rmig_out_init(&w->ttl, -1);
}

void rmig_jw_free(rmig_jw *w)
{
    free(w->acc);
    free(w->lastf);
    rmig_out_close(&w->ttl);
}

void rmig_jw_key_head(rmig_out *o, const rmig_rdb_event *e)
{
    rmig_out_printf(o, "{\"db\":%llu,\"key\":", (unsigned long long)e->db);
    rmig_out_json_bytes(o, e->key, e->key_len);
    rmig_out_printf(o, ",\"type\":\"%s\",\"rdb_type\":%d", rmig_rdb_kind_name(e->kind), e->rdb_type);
    if (e->expire_ms >= 0)
        rmig_out_printf(o, ",\"expire_ms\":%lld", (long long)e->expire_ms);
    if (e->idle_s >= 0)
        rmig_out_printf(o, ",\"lru_idle_s\":%lld", (long long)e->idle_s);
    if (e->freq >= 0)
        rmig_out_printf(o, ",\"lfu_freq\":%d", e->freq);
}

static void key_begin(rmig_jw *w, const rmig_rdb_event *e)
{
    rmig_out *o = w->o;
    rmig_jw_key_head(o, e);
    rmig_out_str(o, ",\"value\":");
    w->n = 0;
    w->st = 0;
    w->ttl.len = 0;
    w->nttl = 0;
    switch (e->kind) {
    case RMIG_KIND_LIST:
    case RMIG_KIND_SET:
    case RMIG_KIND_ZSET: rmig_out_char(o, '['); break;
    case RMIG_KIND_HASH: rmig_out_str(o, ttl_form(e->rdb_type) ? "{\"fields\":[" : "["); break;
    case RMIG_KIND_STREAM: rmig_out_str(o, "{\"entries\":["); break;
    }
}

/* Stream nesting: what is open, innermost last. */
enum {
    ST_ENTRY = 1,     /* an entry's field list */
    ST_META = 2,      /* entries closed, meta written, groups array open */
    ST_GROUP = 4,     /* a group object open */
    ST_PEL = 8,       /* its pel array open */
    ST_CONSUMERS = 16,
    ST_CONSUMER = 32, /* a consumer object with its pel array open */
    ST_GROUPS_DONE = 64,
    ST_IDMP = 128,    /* idmp object with producers array open */
    ST_PRODUCER = 256,
};

static void st_close_group(rmig_jw *w)
{
    rmig_out *o = w->o;
    if (!(w->st & ST_GROUP))
        return;
    if (w->st & ST_CONSUMER)
        rmig_out_str(o, "]}");
    if (w->st & ST_PEL)
        rmig_out_str(o, "],\"consumers\":[");
    rmig_out_str(o, "]}");
    w->st &= ~(ST_GROUP | ST_PEL | ST_CONSUMERS | ST_CONSUMER);
}

static void st_close_entries(rmig_jw *w)
{
    if (w->st & ST_ENTRY)
        rmig_out_str(w->o, "]]");
    w->st &= ~ST_ENTRY;
}

static void st_close_groups(rmig_jw *w)
{
    st_close_group(w);
    if (!(w->st & ST_GROUPS_DONE)) {
        rmig_out_char(w->o, ']');
        w->st |= ST_GROUPS_DONE;
    }
}

static void st_open_idmp(rmig_jw *w)
{
    st_close_groups(w);
    if (!(w->st & ST_IDMP)) {
        rmig_out_str(w->o, ",\"idmp\":{\"producers\":[");
        w->st |= ST_IDMP;
        w->n2 = 0;
    }
}

static void key_end(rmig_jw *w, const rmig_rdb_event *e)
{
    rmig_out *o = w->o;
    switch (e->kind) {
    case RMIG_KIND_LIST:
    case RMIG_KIND_SET:
    case RMIG_KIND_ZSET: rmig_out_char(o, ']'); break;
    case RMIG_KIND_HASH:
        if (ttl_form(e->rdb_type)) {
            rmig_out_str(o, "],\"field_expire_ms\":{");
            rmig_out_mem(o, w->ttl.buf, w->ttl.len);
            rmig_out_str(o, "}}");
        } else {
            rmig_out_char(o, ']');
        }
        break;
    case RMIG_KIND_STREAM:
        st_close_entries(w);
        if (!(w->st & ST_META))
            rmig_out_str(o, "],\"groups\":[");
        if (w->st & ST_PRODUCER)
            rmig_out_str(o, "]}");
        if (w->st & ST_IDMP)
            rmig_out_str(o, "]}");
        else
            st_close_groups(w);
        rmig_out_char(o, '}');
        break;
    case RMIG_KIND_MODULE:
        if (!w->n)
            rmig_out_str(o, "null");
        break;
    }
    rmig_out_str(o, "}\n");
}

static void comma(rmig_jw *w)
{
    if (w->n++)
        rmig_out_char(w->o, ',');
}

static void on_str(rmig_jw *w, const rmig_rdb_event *e)
{
    rmig_out *o = w->o;
    const uint8_t *s;
    size_t n;
    if (!whole(w, e, &s, &n))
        return;
    switch (e->role) {
    case RMIG_RDB_STRING: rmig_out_json_bytes(o, s, n); break;
    case RMIG_RDB_ITEM:
    case RMIG_RDB_MEMBER:
        comma(w);
        rmig_out_json_bytes(o, s, n);
        break;
    case RMIG_RDB_ZMEMBER:
        comma(w);
        rmig_out_char(o, '[');
        rmig_out_json_bytes(o, s, n);
        break;
    case RMIG_RDB_FIELD:
        comma(w);
        rmig_out_char(o, '[');
        rmig_out_json_bytes(o, s, n);
        if (ttl_form(e->rdb_type)) {
            /* kept for a FIELD_TTL that may follow the value */
            if (n > w->lastf_cap) {
                uint8_t *b = realloc(w->lastf, n);
                if (!b) {
                    fprintf(stderr, "rmig: out of memory\n");
                    exit(1);
                }
                w->lastf = b;
                w->lastf_cap = n;
            }
            memcpy(w->lastf, s, n);
            w->lastf_len = n;
        }
        break;
    case RMIG_RDB_VALUE:
        rmig_out_char(o, ',');
        rmig_out_json_bytes(o, s, n);
        rmig_out_char(o, ']');
        break;
    case RMIG_RDB_STREAM_FIELD:
        rmig_out_str(o, w->n2++ ? ",[" : "[");
        rmig_out_json_bytes(o, s, n);
        break;
    case RMIG_RDB_STREAM_VALUE:
        rmig_out_char(o, ',');
        rmig_out_json_bytes(o, s, n);
        rmig_out_char(o, ']');
        break;
    }
}

static void on_stream(rmig_jw *w, const rmig_rdb_event *e)
{
    rmig_out *o = w->o;
    switch (e->type) {
    case RMIG_RDB_EV_STREAM_ENTRY:
        st_close_entries(w);
        comma(w);
        rmig_out_char(o, '[');
        id_str(o, e->u.entry.id);
        rmig_out_str(o, ",[");
        w->st |= ST_ENTRY;
        w->n2 = 0;
        break;
    case RMIG_RDB_EV_STREAM_META:
        st_close_entries(w);
        rmig_out_printf(o, "],\"meta\":{\"length\":%llu,\"last_id\":",
                        (unsigned long long)e->u.meta.length);
        id_str(o, e->u.meta.last_id);
        if (e->u.meta.v2) {
            rmig_out_str(o, ",\"first_id\":");
            id_str(o, e->u.meta.first_id);
            rmig_out_str(o, ",\"max_deleted_id\":");
            id_str(o, e->u.meta.max_deleted_id);
            rmig_out_printf(o, ",\"entries_added\":%llu", (unsigned long long)e->u.meta.entries_added);
        }
        rmig_out_str(o, "},\"groups\":[");
        w->st |= ST_META;
        w->n = 0;
        break;
    case RMIG_RDB_EV_STREAM_GROUP:
        st_close_group(w);
        comma(w);
        rmig_out_str(o, "{\"name\":");
        rmig_out_json_bytes(o, e->str, e->len);
        rmig_out_str(o, ",\"last_id\":");
        id_str(o, e->u.group.last_id);
        if (e->u.group.has_entries_read)
            rmig_out_printf(o, ",\"entries_read\":%llu", (unsigned long long)e->u.group.entries_read);
        rmig_out_str(o, ",\"pel\":[");
        w->st |= ST_GROUP | ST_PEL;
        w->n2 = 0;
        break;
    case RMIG_RDB_EV_STREAM_PEL:
        rmig_out_str(o, w->n2++ ? ",[" : "[");
        id_str(o, e->u.pel.id);
        rmig_out_printf(o, ",%llu,%llu]", (unsigned long long)e->u.pel.delivery_ms,
                        (unsigned long long)e->u.pel.delivery_count);
        break;
    case RMIG_RDB_EV_STREAM_CONSUMER:
        if (w->st & ST_PEL) {
            rmig_out_str(o, "],\"consumers\":[");
            w->st &= ~ST_PEL;
            w->st |= ST_CONSUMERS;
        } else if (w->st & ST_CONSUMER) {
            rmig_out_str(o, "]},");
        }
        rmig_out_str(o, "{\"name\":");
        rmig_out_json_bytes(o, e->str, e->len);
        rmig_out_printf(o, ",\"seen_time\":%llu", (unsigned long long)e->u.consumer.seen_ms);
        if (e->u.consumer.has_active)
            rmig_out_printf(o, ",\"active_time\":%llu", (unsigned long long)e->u.consumer.active_ms);
        rmig_out_str(o, ",\"pel\":[");
        w->st |= ST_CONSUMER;
        w->n2 = 0;
        break;
    case RMIG_RDB_EV_STREAM_CPEL:
        if (w->n2++)
            rmig_out_char(o, ',');
        id_str(o, e->u.pel.id);
        break;
    case RMIG_RDB_EV_STREAM_PRODUCER:
        st_open_idmp(w);
        if (w->st & ST_PRODUCER)
            rmig_out_str(o, "]},");
        rmig_out_str(o, "{\"pid\":");
        rmig_out_json_bytes(o, e->str, e->len);
        rmig_out_str(o, ",\"entries\":[");
        w->st |= ST_PRODUCER;
        w->n2 = 0;
        break;
    case RMIG_RDB_EV_STREAM_IID:
        rmig_out_str(o, w->n2++ ? ",[" : "[");
        rmig_out_json_bytes(o, e->str, e->len);
        rmig_out_char(o, ',');
        id_str(o, e->u.pel.id);
        rmig_out_char(o, ']');
        break;
    case RMIG_RDB_EV_STREAM_IDMP:
        st_open_idmp(w);
        if (w->st & ST_PRODUCER)
            rmig_out_str(o, "]}");
        rmig_out_printf(o, "],\"duration\":%llu,\"max_entries\":%llu,\"iids_added\":%llu,"
                           "\"iids_duplicates\":%llu}",
                        (unsigned long long)e->u.idmp.duration, (unsigned long long)e->u.idmp.max_entries,
                        (unsigned long long)e->u.idmp.iids_added,
                        (unsigned long long)e->u.idmp.iids_duplicates);
        w->st &= ~(ST_IDMP | ST_PRODUCER);
        break;
    }
}

void rmig_jw_event(rmig_jw *w, const rmig_rdb_event *e)
{
    rmig_out *o = w->o;
    switch (e->type) {
    case RMIG_RDB_EV_BEGIN:
        rmig_out_printf(o, "{\"rdb_version\":%d,\"magic\":\"%s\"}\n", e->version, e->u.begin.magic);
        break;
    case RMIG_RDB_EV_AUX:
        rmig_out_str(o, "{\"aux\":");
        rmig_out_json_bytes(o, e->str, e->len);
        rmig_out_str(o, ",\"value\":");
        rmig_out_json_bytes(o, e->str2, e->len2);
        rmig_out_str(o, "}\n");
        break;
    case RMIG_RDB_EV_FUNCTION:
        rmig_out_str(o, "{\"function\":");
        rmig_out_json_bytes(o, e->str, e->len);
        if (e->u.func.pre_ga) {
            rmig_out_str(o, ",\"format\":\"FUNCTION_PRE_GA\",\"name\":");
            rmig_out_json_bytes(o, e->str2, e->len2);
            rmig_out_str(o, ",\"engine\":");
            rmig_out_json_bytes(o, e->u.func.engine, e->u.func.engine_len);
        }
        rmig_out_str(o, "}\n");
        break;
    case RMIG_RDB_EV_MODULE_AUX:
        rmig_out_printf(o, "{\"module_aux\":\"%s\",\"encver\":%d,\"when\":%llu}\n", e->u.module.name,
                        e->u.module.encver, (unsigned long long)e->u.module.when);
        break;
    case RMIG_RDB_EV_KEY: key_begin(w, e); break;
    case RMIG_RDB_EV_STR: on_str(w, e); break;
    case RMIG_RDB_EV_SCORE:
        rmig_out_char(o, ',');
        if (e->str)
            score_text(o, e->str, e->len);
        else
            rmig_out_json_score(o, e->u.score);
        rmig_out_char(o, ']');
        break;
    case RMIG_RDB_EV_FIELD_TTL:
        if (w->nttl++)
            rmig_out_char(&w->ttl, ',');
        rmig_out_json_bytes(&w->ttl, w->lastf, w->lastf_len);
        rmig_out_printf(&w->ttl, ":%lld", (long long)e->u.ttl_ms);
        break;
    case RMIG_RDB_EV_MODULE:
        rmig_out_printf(o, "{\"module_type\":\"%s\",\"encver\":%d}", e->u.module.name, e->u.module.encver);
        w->n = 1;
        break;
    case RMIG_RDB_EV_KEY_END: key_end(w, e); break;
    case RMIG_RDB_EV_EOF:
        rmig_out_printf(o, "{\"eof\":true,\"checksum\":\"%s\"}\n",
                        e->u.eof.checked == 1    ? "ok"
                        : e->u.eof.checked == 0  ? "disabled"
                        : e->u.eof.checked == -1 ? "none"
                                                 : "not checked");
        break;
    default:
        if (e->type >= RMIG_RDB_EV_STREAM_ENTRY && e->type <= RMIG_RDB_EV_STREAM_IID)
            on_stream(w, e);
        break;
    }
}
