-- Genonaut's content_tags trigger rewrites item_metadata.tags with one UPDATE statement per tag
-- row, so a 100,000-row tag backfill fires the counters' statement trigger 100,000 times. Such
-- updates change no count (counts depend on id, partition, creator and day only): say so with a
-- cheap check whose plan is cached, before any dynamic SQL. Otherwise as in 0003.

CREATE OR REPLACE FUNCTION gallery_proxy.count_content_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.rebuild_item_counts();
        RETURN NULL;
    END IF;
    -- Nested: one IF expression is planned whole, and old_rows exists only for UPDATE.
    IF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (
            SELECT o.id, o.source_type, o.creator_id, o.created_at FROM old_rows o
            EXCEPT SELECT n.id, n.source_type, n.creator_id, n.created_at FROM new_rows n) THEN
            RETURN NULL;
        END IF;
    END IF;
    EXECUTE gallery_proxy.apply_changes_sql(
        'changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'id, source_type, creator_id, created_at') || $sql$),
        changes AS (
            SELECT '00000000-0000-0000-0000-000000000000'::uuid AS tag_id, source_type, creator_id,
                   created_at::date AS day, sign FROM changed
            UNION ALL
            SELECT ct.tag_id, c.source_type, c.creator_id, c.created_at::date, c.sign
              FROM changed c
              JOIN public.content_tags ct
                ON ct.content_id = c.id AND ct.content_source = gallery_proxy.content_source_of(c.source_type)
        )$sql$);
    RETURN NULL;
END
$$;
