-- Change events for cache invalidation: triggers append, in the writing transaction, the cache
-- dependencies a write changes to a durable outbox, and wake the proxies with pg_notify. The
-- proxies read the outbox by position (NOTIFY is only a wake-up: a lost one costs latency, never
-- an invalidation). Genonaut's tables get triggers added, nothing else.
--
-- Dependency names (the proxy computes the same names for what each cached answer read):
--   all                    every entry
--   part:{p}               every entry that reads partition p ('items' or 'auto')
--   set:{p}                entries of untagged queries over p: which rows exist, or where they sort
--   tag:{p}:{uuid}         entries whose tag filter names the tag, over p
--   item:{p}:{id}          entries whose page shows the item
--   user:{uuid}            entries whose page shows an item by that creator (username)
--   stats                  entries carrying the stats object
--   key:{hex}              one cache key (the admin purge by query)
--
-- Bounded: statement-level triggers with transition tables, deduplicated per transaction by the
-- (xid, dep) key, and at most gallery_proxy.max_item_events item events per transaction (past
-- that, one part:{p} event stands for them all). A 100,000-row backfill of content_tags is then a
-- few hundred rows here, not 100,000.

CREATE TABLE gallery_proxy.change_events (
    -- Taken before commit, so a lower id can become visible after a higher one; the consumer
    -- knows when none can any more from the transaction ids (xid) and the snapshot horizon.
    id bigserial PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    -- When the write happened (just before its commit): the start of the invalidation lag.
    written_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    dep text NOT NULL,
    UNIQUE (xid, dep)
);
CREATE INDEX change_events_written_at ON gallery_proxy.change_events (written_at);

-- The highest id pruned so far: a consumer whose position is below it may have missed events.
CREATE TABLE gallery_proxy.change_events_pruned (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    through_id bigint NOT NULL
);
INSERT INTO gallery_proxy.change_events_pruned VALUES (true, 0);

-- Appends each dependency once per transaction and wakes the consumers (NOTIFY folds identical
-- payloads of one transaction into one).
CREATE FUNCTION gallery_proxy.emit(deps text[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(array_length(deps, 1), 0) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO gallery_proxy.change_events (dep)
    SELECT DISTINCT d FROM unnest(deps) AS d ORDER BY 1
    ON CONFLICT (xid, dep) DO NOTHING;
    PERFORM pg_notify('gallery_proxy_changes', '');
END
$$;

-- Item events, at most max_item_events per transaction; past that, part:{p} for the rest, and
-- the partition is marked reported whole for the rest of the transaction (gallery_proxy.whole_{p}),
-- so later statements on it return at once.
CREATE FUNCTION gallery_proxy.emit_items(items text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    so_far int := coalesce(nullif(current_setting('gallery_proxy.item_events', true), ''), '0')::int;
    bound int := coalesce(nullif(current_setting('gallery_proxy.max_item_events', true), ''), '1000')::int;
    n int := coalesce(array_length(items, 1), 0);
    p text;
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    PERFORM set_config('gallery_proxy.item_events', (so_far + n)::text, true);
    IF so_far + n <= bound THEN
        PERFORM gallery_proxy.emit(items);
    ELSE
        -- item:{p}:{id} -> part:{p}
        FOR p IN SELECT DISTINCT split_part(i, ':', 2) FROM unnest(items) AS i LOOP
            PERFORM gallery_proxy.emit(ARRAY['part:' || p]);
            PERFORM set_config('gallery_proxy.whole_' || p, 'on', true);
        END LOOP;
    END IF;
END
$$;

-- content_tags: the tag's posting list changed in that partition. (Genonaut's own row trigger
-- also rewrites the item's item_metadata.tags; the content triggers report that as an item
-- change.)
CREATE FUNCTION gallery_proxy.content_tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.emit(ARRAY['all']);
        RETURN NULL;
    END IF;
    EXECUTE 'WITH changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'content_source, tag_id') || $sql$
    )
    SELECT gallery_proxy.emit(ARRAY(
        SELECT DISTINCT 'tag:' || gallery_proxy.source_type_of(content_source) || ':' || tag_id
          FROM changed))
    $sql$;
    RETURN NULL;
END
$$;

-- Content rows. Added or removed: the partition's row set, and the tags the rows carry (tags may
-- be written before the item). Updated in a column that filters or sorts (creator, title,
-- prompt, created_at, quality_score): the same, since the row may enter or leave any query it
-- can match. Updated in a shown column only: the item itself.
CREATE FUNCTION gallery_proxy.content_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- The partition a statement on a partition table touches (NULL on the parent).
    p text := CASE TG_TABLE_NAME WHEN 'content_items' THEN 'items' WHEN 'content_items_auto' THEN 'auto' END;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.emit(ARRAY['all']);
        RETURN NULL;
    END IF;
    -- Reported whole already in this transaction: nothing more about it can matter. (Genonaut's
    -- tag trigger updates one row per statement, so a backfill calls this once per row.)
    IF p IS NOT NULL AND current_setting('gallery_proxy.whole_' || p, true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- Static SQL: its plan is cached across the many one-row statements of a backfill.
        WITH moved AS (
            SELECT m.id, m.source_type FROM (
                (SELECT o.id, o.source_type, o.creator_id, o.title, o.prompt, o.created_at, o.quality_score FROM old_rows o
                 EXCEPT SELECT n.id, n.source_type, n.creator_id, n.title, n.prompt, n.created_at, n.quality_score FROM new_rows n)
                UNION
                (SELECT n.id, n.source_type, n.creator_id, n.title, n.prompt, n.created_at, n.quality_score FROM new_rows n
                 EXCEPT SELECT o.id, o.source_type, o.creator_id, o.title, o.prompt, o.created_at, o.quality_score FROM old_rows o)
            ) m
        ), shown AS (
            SELECT s.id, s.source_type FROM (SELECT * FROM new_rows EXCEPT SELECT * FROM old_rows) s
            EXCEPT SELECT id, source_type FROM moved
        )
        SELECT gallery_proxy.emit(ARRAY(
                   SELECT 'set:' || source_type FROM moved
                   UNION
                   SELECT 'tag:' || m.source_type || ':' || ct.tag_id
                     FROM moved m
                     JOIN public.content_tags ct
                       ON ct.content_id = m.id AND ct.content_source = gallery_proxy.content_source_of(m.source_type))),
               gallery_proxy.emit_items(ARRAY(
                   SELECT DISTINCT 'item:' || source_type || ':' || id FROM shown))
          INTO STRICT p, p;
        RETURN NULL;
    END IF;
    EXECUTE 'WITH changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'id, source_type') || $sql$
    )
    SELECT gallery_proxy.emit(ARRAY(
        SELECT 'set:' || source_type FROM changed
        UNION
        SELECT 'tag:' || c.source_type || ':' || ct.tag_id
          FROM changed c
          JOIN public.content_tags ct
            ON ct.content_id = c.id AND ct.content_source = gallery_proxy.content_source_of(c.source_type)))
    $sql$;
    RETURN NULL;
END
$$;

-- users: a username is shown on every item of that creator.
CREATE FUNCTION gallery_proxy.users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gallery_proxy.emit(ARRAY(
        SELECT DISTINCT 'user:' || n.id
          FROM new_rows n JOIN old_rows o ON o.id = n.id
         WHERE n.username IS DISTINCT FROM o.username));
    RETURN NULL;
END
$$;

-- tags: no answer shows a tag's name (item_metadata.tags is kept by Genonaut's content_tags
-- trigger, and names are never looked up), and a delete cascades to content_tags, whose trigger
-- reports it. A rename or delete is rare, so it is reported for the tag anyway: cheap insurance
-- should a later upstream show names.
CREATE FUNCTION gallery_proxy.tags_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.emit(ARRAY['all']);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        PERFORM gallery_proxy.emit(ARRAY(
            SELECT 'tag:' || p || ':' || n.id
              FROM new_rows n JOIN old_rows o ON o.id = n.id, unnest(ARRAY['items', 'auto']) AS p
             WHERE n.name IS DISTINCT FROM o.name));
    ELSE
        PERFORM gallery_proxy.emit(ARRAY(
            SELECT 'tag:' || p || ':' || o.id FROM old_rows o, unnest(ARRAY['items', 'auto']) AS p));
    END IF;
    RETURN NULL;
END
$$;

-- gen_source_stats: the stats object. (tag_cardinality_stats is not read by the proxy: its
-- counts are exact, so its daily refresh changes no answer.)
CREATE FUNCTION gallery_proxy.stats_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gallery_proxy.emit(ARRAY['stats']);
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    -- The parent and each partition: a statement fires the statement triggers of the table it
    -- names only.
    FOREACH t IN ARRAY ARRAY['content_items_all', 'content_items', 'content_items_auto'] LOOP
        EXECUTE format('CREATE TRIGGER gallery_proxy_events_insert AFTER INSERT ON public.%I
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_changed()', t);
        EXECUTE format('CREATE TRIGGER gallery_proxy_events_delete AFTER DELETE ON public.%I
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_changed()', t);
        EXECUTE format('CREATE TRIGGER gallery_proxy_events_update AFTER UPDATE ON public.%I
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_changed()', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['content_items', 'content_items_auto'] LOOP
        EXECUTE format('CREATE TRIGGER gallery_proxy_events_truncate AFTER TRUNCATE ON public.%I
            FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_changed()', t);
    END LOOP;
END
$$;

CREATE TRIGGER gallery_proxy_events_insert AFTER INSERT ON public.content_tags
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_tags_changed();
CREATE TRIGGER gallery_proxy_events_delete AFTER DELETE ON public.content_tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_tags_changed();
CREATE TRIGGER gallery_proxy_events_update AFTER UPDATE ON public.content_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_tags_changed();
CREATE TRIGGER gallery_proxy_events_truncate AFTER TRUNCATE ON public.content_tags
    FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.content_tags_changed();

CREATE TRIGGER gallery_proxy_events_update AFTER UPDATE ON public.users
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.users_changed();

CREATE TRIGGER gallery_proxy_events_update AFTER UPDATE ON public.tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.tags_changed();
CREATE TRIGGER gallery_proxy_events_delete AFTER DELETE ON public.tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.tags_changed();
CREATE TRIGGER gallery_proxy_events_truncate AFTER TRUNCATE ON public.tags
    FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.tags_changed();

CREATE TRIGGER gallery_proxy_events_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.gen_source_stats
    FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.stats_changed();
