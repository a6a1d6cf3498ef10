-- Exact item counts that the proxy keeps, so a 0- or 1-tag total_count is a lookup instead of a
-- scan (upstream counts 1.2M rows per untagged page, or reads a table refreshed daily).
--
-- gallery_proxy.item_counts holds, per (tag, partition, creator), how many items of that
-- partition by that creator carry the tag. tag_id = the nil UUID counts all items.
-- Statement-level triggers with transition tables keep it exact inside each writing
-- transaction, one grouped upsert per statement, so a bulk write costs one pass, not one
-- trigger call per row. Triggers sit on the parent and on both partitions, because a statement
-- fires the statement triggers of the table it names only.
--
-- Known gap: an item and a tag of that item inserted concurrently by two transactions that
-- both commit are each invisible to the other's trigger, so that pair is not counted. Genonaut
-- commits content before its tags; `gallery-proxy recount` rebuilds the table if needed.

CREATE TABLE gallery_proxy.item_counts (
    tag_id uuid NOT NULL,
    source_type text NOT NULL,
    creator_id uuid NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (tag_id, source_type, creator_id)
);

-- content_tags says 'regular' where content_items_all says 'items'.
CREATE FUNCTION gallery_proxy.source_type_of(content_source text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE content_source WHEN 'regular' THEN 'items' ELSE content_source END $$;
CREATE FUNCTION gallery_proxy.content_source_of(source_type text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE source_type WHEN 'items' THEN 'regular' ELSE source_type END $$;

-- The rows a statement changed, each with +1 (added) or -1 (removed). A trigger sees only the
-- transition tables it declares, so the text depends on the operation.
CREATE FUNCTION gallery_proxy.changed_rows_sql(op text, columns text) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE op
        WHEN 'INSERT' THEN format('SELECT %s, 1 AS sign FROM new_rows', columns)
        WHEN 'DELETE' THEN format('SELECT %s, -1 AS sign FROM old_rows', columns)
        ELSE format('SELECT %s, 1 AS sign FROM new_rows UNION ALL SELECT %s, -1 FROM old_rows', columns, columns)
    END
$$;

CREATE FUNCTION gallery_proxy.rebuild_item_counts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- Serialize with the count triggers' writers for the duration of the rebuild.
    LOCK TABLE gallery_proxy.item_counts IN EXCLUSIVE MODE;
    DELETE FROM gallery_proxy.item_counts;
    INSERT INTO gallery_proxy.item_counts (tag_id, source_type, creator_id, n)
    SELECT '00000000-0000-0000-0000-000000000000'::uuid, source_type, creator_id, count(*)
      FROM public.content_items_all GROUP BY source_type, creator_id;
    INSERT INTO gallery_proxy.item_counts (tag_id, source_type, creator_id, n)
    SELECT ct.tag_id, c.source_type, c.creator_id, count(*)
      FROM public.content_tags ct
      JOIN public.content_items_all c
        ON c.id = ct.content_id AND c.source_type = gallery_proxy.source_type_of(ct.content_source)
     GROUP BY ct.tag_id, c.source_type, c.creator_id;
END
$$;

-- Content rows added or removed: the all-items row, plus one per tag the item already has
-- (content_tags may be written before the item).
CREATE FUNCTION gallery_proxy.count_content_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.rebuild_item_counts();
        RETURN NULL;
    END IF;
    EXECUTE 'WITH changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'id, source_type, creator_id') || $sql$
    ), per_tag AS (
        SELECT '00000000-0000-0000-0000-000000000000'::uuid AS tag_id, source_type, creator_id, sign FROM changed
        UNION ALL
        SELECT ct.tag_id, c.source_type, c.creator_id, c.sign
          FROM changed c
          JOIN public.content_tags ct
            ON ct.content_id = c.id AND ct.content_source = gallery_proxy.content_source_of(c.source_type)
    ), delta AS (
        SELECT tag_id, source_type, creator_id, sum(sign) AS n FROM per_tag
         GROUP BY tag_id, source_type, creator_id HAVING sum(sign) <> 0
    )
    INSERT INTO gallery_proxy.item_counts AS ic (tag_id, source_type, creator_id, n)
    SELECT tag_id, source_type, creator_id, n FROM delta ORDER BY 1, 2, 3
    ON CONFLICT (tag_id, source_type, creator_id) DO UPDATE SET n = ic.n + EXCLUDED.n
    $sql$;
    RETURN NULL;
END
$$;

-- Tag rows added or removed: one per (tag, item) whose item exists.
CREATE FUNCTION gallery_proxy.count_tag_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.rebuild_item_counts();
        RETURN NULL;
    END IF;
    EXECUTE 'WITH changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'content_id, content_source, tag_id') || $sql$
    ), delta AS (
        SELECT ch.tag_id, c.source_type, c.creator_id, sum(ch.sign) AS n
          FROM changed ch
          JOIN public.content_items_all c
            ON c.id = ch.content_id AND c.source_type = gallery_proxy.source_type_of(ch.content_source)
         GROUP BY ch.tag_id, c.source_type, c.creator_id HAVING sum(ch.sign) <> 0
    )
    INSERT INTO gallery_proxy.item_counts AS ic (tag_id, source_type, creator_id, n)
    SELECT tag_id, source_type, creator_id, n FROM delta ORDER BY 1, 2, 3
    ON CONFLICT (tag_id, source_type, creator_id) DO UPDATE SET n = ic.n + EXCLUDED.n
    $sql$;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['content_items_all', 'content_items', 'content_items_auto'] LOOP
        EXECUTE format('CREATE TRIGGER gallery_proxy_count_insert AFTER INSERT ON public.%I
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_content_changes()', t);
        EXECUTE format('CREATE TRIGGER gallery_proxy_count_delete AFTER DELETE ON public.%I
            REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_content_changes()', t);
        EXECUTE format('CREATE TRIGGER gallery_proxy_count_update AFTER UPDATE ON public.%I
            REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_content_changes()', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['content_items', 'content_items_auto'] LOOP
        EXECUTE format('CREATE TRIGGER gallery_proxy_count_truncate AFTER TRUNCATE ON public.%I
            FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_content_changes()', t);
    END LOOP;
END
$$;

CREATE TRIGGER gallery_proxy_count_insert AFTER INSERT ON public.content_tags
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_tag_changes();
CREATE TRIGGER gallery_proxy_count_delete AFTER DELETE ON public.content_tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_tag_changes();
CREATE TRIGGER gallery_proxy_count_update AFTER UPDATE ON public.content_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_tag_changes();
CREATE TRIGGER gallery_proxy_count_truncate AFTER TRUNCATE ON public.content_tags
    FOR EACH STATEMENT EXECUTE FUNCTION gallery_proxy.count_tag_changes();

SELECT gallery_proxy.rebuild_item_counts();
