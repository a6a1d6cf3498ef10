-- The Genonaut tables the gallery route reads, as at Genonaut migration head b4f6d6bbfb89.
--
-- Each table is created, with its indexes, only when it does not exist yet: on a real Genonaut
-- database this migration changes nothing. Every name is schema-qualified because migrations run
-- with search_path = gallery_proxy, public (the proxy's bookkeeping lives in its own schema).

CREATE SCHEMA IF NOT EXISTS gallery_proxy;

-- Genonaut's init step installs these; its trigram index on titles needs pg_trgm.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
CREATE EXTENSION IF NOT EXISTS btree_gin WITH SCHEMA public;

DO $$
BEGIN
IF to_regclass('public.users') IS NULL THEN
    CREATE TABLE public.users (
        id uuid PRIMARY KEY,
        username varchar(50) NOT NULL,
        email varchar(255),
        created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
        updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
        preferences jsonb,
        is_active boolean NOT NULL DEFAULT true,
        favorite_tag_ids jsonb
    );
    CREATE UNIQUE INDEX ix_users_username ON public.users (username);
    CREATE UNIQUE INDEX ix_users_email ON public.users (email);
    CREATE INDEX idx_users_created_at_desc ON public.users (created_at DESC);
    CREATE INDEX idx_users_active ON public.users (is_active);
    CREATE INDEX idx_users_username_lower ON public.users (lower(username));
    CREATE INDEX idx_users_email_lower ON public.users (lower(email));
    CREATE INDEX idx_users_favorite_tags_gin ON public.users USING gin (favorite_tag_ids);
END IF;

IF to_regclass('public.tags') IS NULL THEN
    CREATE TABLE public.tags (
        id uuid PRIMARY KEY,
        name varchar(255) NOT NULL,
        tag_metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
        updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
    );
    CREATE UNIQUE INDEX ix_tags_name ON public.tags (name);
    CREATE INDEX idx_tags_name ON public.tags (name);
    CREATE INDEX idx_tags_created_at_desc ON public.tags (created_at DESC);
END IF;

IF to_regclass('public.content_items_id_seq') IS NULL THEN
    -- Since Genonaut migration 5f699f3c7bbb both partitions draw ids from this one sequence.
    CREATE SEQUENCE public.content_items_id_seq START 3000000;
END IF;

IF to_regclass('public.content_items_all') IS NULL THEN
    CREATE TABLE public.content_items_all (
        id integer NOT NULL DEFAULT nextval('public.content_items_id_seq'),
        title varchar(255) NOT NULL,
        content_type varchar(50) NOT NULL,
        content_data text NOT NULL,
        item_metadata jsonb,
        creator_id uuid NOT NULL,
        created_at timestamp NOT NULL,
        updated_at timestamp NOT NULL,
        quality_score double precision,
        is_private boolean NOT NULL DEFAULT false,
        path_thumb varchar(512),
        prompt varchar(20000) NOT NULL,
        path_thumbs_alt_res jsonb,
        source_type text NOT NULL
    ) PARTITION BY LIST (source_type);
    CREATE TABLE public.content_items PARTITION OF public.content_items_all (
        id WITH OPTIONS DEFAULT nextval('public.content_items_id_seq'),
        source_type WITH OPTIONS DEFAULT 'items',
        PRIMARY KEY (id),
        FOREIGN KEY (creator_id) REFERENCES public.users (id)
    ) FOR VALUES IN ('items');
    CREATE TABLE public.content_items_auto PARTITION OF public.content_items_all (
        id WITH OPTIONS DEFAULT nextval('public.content_items_id_seq'),
        source_type WITH OPTIONS DEFAULT 'auto',
        PRIMARY KEY (id),
        FOREIGN KEY (creator_id) REFERENCES public.users (id)
    ) FOR VALUES IN ('auto');

    CREATE UNIQUE INDEX items_uidx_id_src ON public.content_items (id, source_type);
    CREATE UNIQUE INDEX auto_uidx_id_src ON public.content_items_auto (id, source_type);
    -- Created after its children, so it adopts them under Genonaut's names.
    CREATE UNIQUE INDEX content_items_all_uidx_id_src ON public.content_items_all (id, source_type);

    -- The keyset index the gallery walks, one per partition.
    CREATE INDEX idx_content_items_created_id_desc ON public.content_items (created_at DESC, id DESC);
    CREATE INDEX idx_content_items_auto_created_id_desc ON public.content_items_auto (created_at DESC, id DESC);
    CREATE INDEX ix_content_items_creator_id ON public.content_items (creator_id);
    CREATE INDEX ix_content_items_auto_creator_id ON public.content_items_auto (creator_id);
    CREATE INDEX ix_content_items_content_type ON public.content_items (content_type);
    CREATE INDEX ix_content_items_auto_content_type ON public.content_items_auto (content_type);
    CREATE INDEX idx_content_items_creator_created ON public.content_items (creator_id, created_at DESC);
    CREATE INDEX idx_content_items_auto_creator_created ON public.content_items_auto (creator_id, created_at DESC);
    CREATE INDEX idx_content_items_quality_created ON public.content_items (quality_score DESC, created_at DESC);
    CREATE INDEX idx_content_items_auto_quality_created ON public.content_items_auto (quality_score DESC, created_at DESC);
    CREATE INDEX idx_content_items_public_created ON public.content_items (created_at DESC) WHERE is_private = false;
    CREATE INDEX idx_content_items_auto_public_created ON public.content_items_auto (created_at DESC) WHERE is_private = false;
    CREATE INDEX idx_content_items_metadata_gin ON public.content_items USING gin (item_metadata);
    CREATE INDEX idx_content_items_auto_metadata_gin ON public.content_items_auto USING gin (item_metadata);
    CREATE INDEX ci_title_fts_idx ON public.content_items USING gin (to_tsvector('english', title));
    CREATE INDEX cia_title_fts_idx ON public.content_items_auto USING gin (to_tsvector('english', title));
    CREATE INDEX idx_content_items_title_trgm ON public.content_items USING gist (title public.gist_trgm_ops);
    CREATE INDEX idx_content_items_auto_title_trgm ON public.content_items_auto USING gist (title public.gist_trgm_ops);
END IF;

IF to_regclass('public.content_tags') IS NULL THEN
    -- No foreign key to content (as in Genonaut): deleting content leaves these rows behind.
    CREATE TABLE public.content_tags (
        content_id integer NOT NULL,
        content_source varchar(10) NOT NULL,
        tag_id uuid NOT NULL REFERENCES public.tags (id) ON DELETE CASCADE,
        PRIMARY KEY (content_id, content_source, tag_id)
    );
    CREATE INDEX idx_content_tags_tag_content ON public.content_tags (tag_id, content_id);
    CREATE INDEX idx_content_tags_content ON public.content_tags (content_id, content_source);
    CREATE INDEX idx_content_tags_tag_src_content ON public.content_tags (tag_id, content_source, content_id);

    -- Genonaut's trigger (migration 672c99981361) keeping item_metadata.tags equal to the names
    -- of an item's tags. It does not touch updated_at.
    CREATE FUNCTION public.sync_content_tags_to_metadata() RETURNS trigger LANGUAGE plpgsql AS $fn$
    DECLARE
        tag_name text;
        row_ record;
    BEGIN
        IF TG_OP = 'INSERT' THEN row_ := NEW; ELSE row_ := OLD; END IF;
        SELECT name INTO tag_name FROM public.tags WHERE id = row_.tag_id;
        IF tag_name IS NULL THEN
            RETURN NULL;
        END IF;
        IF TG_OP = 'INSERT' THEN
            IF row_.content_source = 'regular' THEN
                UPDATE public.content_items
                   SET item_metadata = jsonb_set(coalesce(item_metadata, '{}'::jsonb), '{tags}',
                                                 coalesce(item_metadata -> 'tags', '[]'::jsonb) || to_jsonb(tag_name))
                 WHERE id = row_.content_id AND NOT coalesce(item_metadata -> 'tags', '[]'::jsonb) ? tag_name;
            ELSE
                UPDATE public.content_items_auto
                   SET item_metadata = jsonb_set(coalesce(item_metadata, '{}'::jsonb), '{tags}',
                                                 coalesce(item_metadata -> 'tags', '[]'::jsonb) || to_jsonb(tag_name))
                 WHERE id = row_.content_id AND NOT coalesce(item_metadata -> 'tags', '[]'::jsonb) ? tag_name;
            END IF;
        ELSE
            IF row_.content_source = 'regular' THEN
                UPDATE public.content_items SET item_metadata = jsonb_set(item_metadata, '{tags}', (item_metadata -> 'tags') - tag_name)
                 WHERE id = row_.content_id AND item_metadata -> 'tags' ? tag_name;
            ELSE
                UPDATE public.content_items_auto SET item_metadata = jsonb_set(item_metadata, '{tags}', (item_metadata -> 'tags') - tag_name)
                 WHERE id = row_.content_id AND item_metadata -> 'tags' ? tag_name;
            END IF;
        END IF;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER content_tags_insert_sync AFTER INSERT ON public.content_tags
        FOR EACH ROW EXECUTE FUNCTION public.sync_content_tags_to_metadata();
    CREATE TRIGGER content_tags_delete_sync AFTER DELETE ON public.content_tags
        FOR EACH ROW EXECUTE FUNCTION public.sync_content_tags_to_metadata();
END IF;

IF to_regclass('public.tag_cardinality_stats') IS NULL THEN
    CREATE TABLE public.tag_cardinality_stats (
        tag_id uuid NOT NULL REFERENCES public.tags (id) ON DELETE CASCADE,
        content_source varchar(10) NOT NULL,
        cardinality integer NOT NULL,
        updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
        PRIMARY KEY (tag_id, content_source)
    );
    CREATE INDEX idx_tag_cardinality_stats_tag_src ON public.tag_cardinality_stats (tag_id, content_source);
END IF;

IF to_regclass('public.gen_source_stats') IS NULL THEN
    -- user_id NULL rows are the "community" (all content) counts.
    CREATE TABLE public.gen_source_stats (
        id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        user_id uuid REFERENCES public.users (id) ON DELETE CASCADE,
        source_type varchar(10) NOT NULL,
        count integer NOT NULL,
        updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
    );
    CREATE UNIQUE INDEX idx_gen_source_stats_user_src ON public.gen_source_stats (user_id, source_type) WHERE user_id IS NOT NULL;
    CREATE UNIQUE INDEX idx_gen_source_stats_community_src ON public.gen_source_stats (source_type) WHERE user_id IS NULL;
END IF;
END
$$;
