-- Exact item counts per (tag, partition, day of created_at), so a deep page of the gallery
-- (page 2000 is offset 49,975) can skip whole days by arithmetic and walk only within the day
-- where the offset lands, instead of probing ~70,000 rows (about 4.5 µs each).
--
-- Kept by the same statement-level triggers as item_counts (migration 0002), whose functions
-- are replaced here to maintain both tables. tag_id = the nil UUID counts all items. No
-- creator: the skip serves queries whose partitions include every creator (the gallery's
-- default of all four content_source_types).

CREATE TABLE gallery_proxy.item_day_counts (
    tag_id uuid NOT NULL,
    source_type text NOT NULL,
    day date NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (tag_id, source_type, day)
);

CREATE OR REPLACE FUNCTION gallery_proxy.rebuild_item_counts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE gallery_proxy.item_counts, gallery_proxy.item_day_counts IN EXCLUSIVE MODE;
    DELETE FROM gallery_proxy.item_counts;
    DELETE FROM gallery_proxy.item_day_counts;
    INSERT INTO gallery_proxy.item_counts (tag_id, source_type, creator_id, n)
    SELECT '00000000-0000-0000-0000-000000000000'::uuid, source_type, creator_id, count(*)
      FROM public.content_items_all GROUP BY source_type, creator_id;
    INSERT INTO gallery_proxy.item_counts (tag_id, source_type, creator_id, n)
    SELECT ct.tag_id, c.source_type, c.creator_id, count(*)
      FROM public.content_tags ct
      JOIN public.content_items_all c
        ON c.id = ct.content_id AND c.source_type = gallery_proxy.source_type_of(ct.content_source)
     GROUP BY ct.tag_id, c.source_type, c.creator_id;
    INSERT INTO gallery_proxy.item_day_counts (tag_id, source_type, day, n)
    SELECT '00000000-0000-0000-0000-000000000000'::uuid, source_type, created_at::date, count(*)
      FROM public.content_items_all GROUP BY source_type, created_at::date;
    INSERT INTO gallery_proxy.item_day_counts (tag_id, source_type, day, n)
    SELECT ct.tag_id, c.source_type, c.created_at::date, count(*)
      FROM public.content_tags ct
      JOIN public.content_items_all c
        ON c.id = ct.content_id AND c.source_type = gallery_proxy.source_type_of(ct.content_source)
     GROUP BY ct.tag_id, c.source_type, c.created_at::date;
END
$$;

-- The statement's changes as (tag, partition, creator, day, +1/-1) rows, folded into both
-- count tables by one statement (a data-modifying CTE), keys in a fixed order so concurrent
-- writers lock counter rows in the same order.
CREATE FUNCTION gallery_proxy.apply_changes_sql(changes_sql text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'WITH ' || changes_sql || $sql$,
    per_creator AS (
        INSERT INTO gallery_proxy.item_counts AS ic (tag_id, source_type, creator_id, n)
        SELECT tag_id, source_type, creator_id, sum(sign) FROM changes
         GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
        ON CONFLICT (tag_id, source_type, creator_id) DO UPDATE SET n = ic.n + EXCLUDED.n
        RETURNING 1
    )
    INSERT INTO gallery_proxy.item_day_counts AS dc (tag_id, source_type, day, n)
    SELECT tag_id, source_type, day, sum(sign) FROM changes
     GROUP BY 1, 2, 3 HAVING sum(sign) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (tag_id, source_type, day) DO UPDATE SET n = dc.n + EXCLUDED.n
    $sql$
$$;

CREATE OR REPLACE FUNCTION gallery_proxy.count_content_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.rebuild_item_counts();
        RETURN NULL;
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

CREATE OR REPLACE FUNCTION gallery_proxy.count_tag_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM gallery_proxy.rebuild_item_counts();
        RETURN NULL;
    END IF;
    EXECUTE gallery_proxy.apply_changes_sql(
        'changed AS (' || gallery_proxy.changed_rows_sql(TG_OP, 'content_id, content_source, tag_id') || $sql$),
        changes AS (
            SELECT ch.tag_id, c.source_type, c.creator_id, c.created_at::date AS day, ch.sign
              FROM changed ch
              JOIN public.content_items_all c
                ON c.id = ch.content_id AND c.source_type = gallery_proxy.source_type_of(ch.content_source)
        )$sql$);
    RETURN NULL;
END
$$;

SELECT gallery_proxy.rebuild_item_counts();
