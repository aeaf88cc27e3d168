"""Versioned schema migrations. Append a new entry; never edit an applied one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE users (
            user_id        TEXT PRIMARY KEY,
            username       TEXT NOT NULL,
            username_key   TEXT NOT NULL UNIQUE,
            password_hash  TEXT NOT NULL,
            display_name   TEXT NOT NULL,
            phone_hmac     BLOB NOT NULL,
            phone_enc      BLOB NOT NULL,
            id_hmac        BLOB,
            id_enc         BLOB,
            name_enc       BLOB,
            id_verified_at INTEGER,
            credit_score   INTEGER NOT NULL,
            created_at     INTEGER NOT NULL,
            deleted_at     INTEGER,
            blacklisted_at INTEGER
        );
        CREATE UNIQUE INDEX users_phone_hmac ON users(phone_hmac);
        CREATE INDEX users_id_hmac ON users(id_hmac);

        CREATE TABLE tokens (
            token_hash BLOB PRIMARY KEY,
            user_id    TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE INDEX tokens_user ON tokens(user_id);

        -- Rows are never deleted: a group id stays taken for all time (Art. 8).
        CREATE TABLE groups (
            group_id      TEXT PRIMARY KEY,
            name          TEXT NOT NULL,
            category      TEXT NOT NULL,
            join_policy   TEXT NOT NULL,
            owner_id      TEXT NOT NULL,
            announcement  TEXT NOT NULL DEFAULT '',
            mute_all      INTEGER NOT NULL DEFAULT 0,
            last_seq      INTEGER NOT NULL DEFAULT 0,
            created_at    INTEGER NOT NULL,
            dissolved_at  INTEGER,
            closed_at     INTEGER,
            closed_reason TEXT,
            suspended_until INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE members (
            group_id    TEXT NOT NULL,
            user_id     TEXT NOT NULL,
            role        TEXT NOT NULL,
            joined_at   INTEGER NOT NULL,
            joined_seq  INTEGER NOT NULL,
            muted_until INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (group_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX members_user ON members(user_id);

        -- Membership changes, kept for the retention period (Art. 13 exports).
        CREATE TABLE membership_log (
            id       INTEGER PRIMARY KEY,
            group_id TEXT NOT NULL,
            user_id  TEXT NOT NULL,
            action   TEXT NOT NULL,
            actor_id TEXT,
            ts       INTEGER NOT NULL
        );
        CREATE INDEX membership_log_group ON membership_log(group_id, ts);

        CREATE TABLE messages (
            group_id      TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            ts            INTEGER NOT NULL,
            sender_id     TEXT NOT NULL,
            sender_role   TEXT NOT NULL,
            text          TEXT NOT NULL,
            client_msg_id TEXT,
            deleted_at    INTEGER,
            deleted_by    TEXT,
            PRIMARY KEY (group_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX messages_ts ON messages(ts);

        CREATE TABLE join_requests (
            group_id TEXT NOT NULL,
            user_id  TEXT NOT NULL,
            ts       INTEGER NOT NULL,
            PRIMARY KEY (group_id, user_id)
        ) WITHOUT ROWID;

        CREATE TABLE invitations (
            group_id   TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            inviter_id TEXT NOT NULL,
            ts         INTEGER NOT NULL,
            PRIMARY KEY (group_id, user_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        2,
        """
        -- The enforcement record (Art. 11): append-only; each entry carries the
        -- SHA-256 of the previous one, so an edit anywhere breaks the chain.
        CREATE TABLE audit (
            id          INTEGER PRIMARY KEY,
            ts          INTEGER NOT NULL,
            actor_type  TEXT NOT NULL,
            actor_id    TEXT,
            action      TEXT NOT NULL,
            group_id    TEXT,
            target_id   TEXT,
            reason      TEXT NOT NULL DEFAULT '',
            detail      TEXT NOT NULL DEFAULT '{}',
            prev_hash   TEXT NOT NULL,
            hash        TEXT NOT NULL
        );
        CREATE INDEX audit_group ON audit(group_id, ts);
        CREATE INDEX audit_ts ON audit(ts);
        """,
    ),
    (
        3,
        """
        ALTER TABLE users ADD COLUMN powers_suspended_until INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE users ADD COLUMN create_revoked_at INTEGER;

        -- Sanctions on groups and people (Art. 11), with reason, actor, period and source report.
        CREATE TABLE sanctions (
            id          INTEGER PRIMARY KEY,
            kind        TEXT NOT NULL,
            target_type TEXT NOT NULL,
            target_id   TEXT NOT NULL,
            reason      TEXT NOT NULL,
            actor       TEXT NOT NULL,
            starts_at   INTEGER NOT NULL,
            expires_at  INTEGER,
            report_id   INTEGER
        );
        CREATE INDEX sanctions_target ON sanctions(target_type, target_id);

        -- Complaints and reports from users (Art. 12).
        CREATE TABLE reports (
            report_id   INTEGER PRIMARY KEY,
            reporter_id TEXT NOT NULL,
            target_type TEXT NOT NULL,
            group_id    TEXT,
            seq         INTEGER,
            user_id     TEXT,
            reason      TEXT NOT NULL,
            detail      TEXT NOT NULL DEFAULT '',
            created_at  INTEGER NOT NULL,
            status      TEXT NOT NULL DEFAULT 'open',
            outcome     TEXT,
            note        TEXT,
            resolved_at INTEGER,
            resolved_by TEXT
        );
        CREATE INDEX reports_status ON reports(status, created_at);
        CREATE INDEX reports_reporter ON reports(reporter_id, created_at);
        """,
    ),
    (
        4,
        """
        -- held: 0 delivered, 1 held for review (stored, not delivered), 2 rejected by an operator.
        ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;

        -- Content review queue (Art. 10): held and flagged messages, and operator decisions.
        CREATE TABLE review_queue (
            item_id    INTEGER PRIMARY KEY,
            group_id   TEXT NOT NULL,
            seq        INTEGER NOT NULL,
            sender_id  TEXT NOT NULL,
            action     TEXT NOT NULL,
            category   TEXT NOT NULL,
            term       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status     TEXT NOT NULL DEFAULT 'open',
            decision   TEXT,
            note       TEXT,
            decided_at INTEGER
        );
        CREATE INDEX review_queue_status ON review_queue(status, created_at);

        -- Platform rules and service agreement (Art. 5), versioned; acceptances recorded.
        CREATE TABLE agreements (
            version    TEXT PRIMARY KEY,
            rules      TEXT NOT NULL,
            agreement  TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE agreement_acceptances (
            user_id     TEXT NOT NULL,
            version     TEXT NOT NULL,
            accepted_at INTEGER NOT NULL,
            PRIMARY KEY (user_id, version)
        ) WITHOUT ROWID;
        """,
    ),
    (
        5,
        """
        -- Network logs (Art. 13): connections, logins, code requests; kept retention.days.
        -- Phones never appear here in plain text (a code request carries the phone's HMAC).
        CREATE TABLE netlog (
            id      INTEGER PRIMARY KEY,
            ts      INTEGER NOT NULL,
            kind    TEXT NOT NULL,
            user_id TEXT,
            ip      TEXT,
            detail  TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX netlog_ts ON netlog(ts);
        CREATE INDEX netlog_user ON netlog(user_id, ts);
        CREATE INDEX membership_log_ts ON membership_log(ts);

        -- Legal holds by operator command (Art. 13): a held group's or user's records are not purged.
        CREATE TABLE legal_holds (
            id          INTEGER PRIMARY KEY,
            target_type TEXT NOT NULL,
            target_id   TEXT NOT NULL,
            reason      TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            released_at INTEGER,
            release_reason TEXT
        );
        CREATE INDEX legal_holds_open ON legal_holds(released_at, target_type, target_id);

        -- Identity-key registry (Art. 6): which key id each configured key has, by fingerprint,
        -- and the lookup (HMAC) key, stored sealed under the current key so it survives rotation.
        CREATE TABLE vault_keys (
            key_id      INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            added_at    INTEGER NOT NULL
        );
        CREATE TABLE vault_secrets (
            name  TEXT PRIMARY KEY,
            value BLOB NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- One owner per group, decided by the database as well as in memory.
        CREATE UNIQUE INDEX members_one_owner ON members(group_id) WHERE role = 'owner';
        """,
    ),
    (
        7,
        """
        -- The enforcement record's keyed chain: HMAC-SHA256 under a key derived from the
        -- identity key store, so nobody without the server's key can recompute it.
        -- Entries from before this migration get theirs at the next start.
        ALTER TABLE audit ADD COLUMN mac TEXT;
        """,
    ),
    (
        8,
        """
        -- Measures that finish: a sanction lifted early (by whom, why), and users' appeals.
        ALTER TABLE sanctions ADD COLUMN lifted_at INTEGER;
        ALTER TABLE sanctions ADD COLUMN lifted_by TEXT;
        ALTER TABLE sanctions ADD COLUMN lift_reason TEXT;
        CREATE TABLE appeals (
            appeal_id   INTEGER PRIMARY KEY,
            sanction_id INTEGER NOT NULL,
            user_id     TEXT NOT NULL,
            text        TEXT NOT NULL,
            created_at  INTEGER NOT NULL,
            status      TEXT NOT NULL DEFAULT 'open',
            outcome     TEXT,
            note        TEXT,
            decided_at  INTEGER,
            decided_by  TEXT
        );
        -- One open appeal per sanction and user, decided by the database.
        CREATE UNIQUE INDEX appeals_one_open ON appeals(sanction_id, user_id) WHERE status = 'open';
        """,
    ),
    (
        9,
        """
        -- Richer messages: a reply, mentions (a JSON array of user ids), @all, attachments
        -- (a JSON array of attachment objects without their signed url), the last edit's time.
        ALTER TABLE messages ADD COLUMN reply_to INTEGER;
        ALTER TABLE messages ADD COLUMN mentions TEXT;
        ALTER TABLE messages ADD COLUMN mention_all INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN attachments TEXT;
        ALTER TABLE messages ADD COLUMN edited_at INTEGER;
        -- Every earlier text of an edited message (messages.text is the latest), kept for the
        -- record: version 1 is the text as sent; ts is when that text was written.
        CREATE TABLE message_versions (
            group_id TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            version  INTEGER NOT NULL,
            text     TEXT NOT NULL,
            ts       INTEGER NOT NULL,
            PRIMARY KEY (group_id, seq, version)
        ) WITHOUT ROWID;
        CREATE TABLE reactions (
            group_id TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            user_id  TEXT NOT NULL,
            emoji    TEXT NOT NULL,
            ts       INTEGER NOT NULL,
            PRIMARY KEY (group_id, seq, user_id, emoji)
        ) WITHOUT ROWID;
        -- Which uploads a message carries, written in the same commit as the message.
        CREATE TABLE message_media (
            group_id TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            media_id TEXT NOT NULL,
            PRIMARY KEY (group_id, seq, media_id)
        ) WITHOUT ROWID;
        CREATE INDEX message_media_media ON message_media(media_id);
        CREATE TABLE group_pins (
            group_id  TEXT NOT NULL,
            seq       INTEGER NOT NULL,
            pinned_at INTEGER NOT NULL,
            pinned_by TEXT NOT NULL,
            PRIMARY KEY (group_id, seq)
        ) WITHOUT ROWID;
        """,
    ),
    (
        10,
        """
        -- Group moderation: slow mode, bans, invite links.
        ALTER TABLE groups ADD COLUMN slow_mode_seconds INTEGER NOT NULL DEFAULT 0;
        -- until: epoch ms when a timed ban ends; 0 until unbanned. An unban deletes the row
        -- (the enforcement record keeps both).
        CREATE TABLE bans (
            group_id   TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            until      INTEGER NOT NULL DEFAULT 0,
            banned_by  TEXT NOT NULL,
            reason     TEXT,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (group_id, user_id)
        ) WITHOUT ROWID;
        -- An invite link is known by its code's SHA-256; the code itself is never stored.
        CREATE TABLE invite_links (
            code_hash  TEXT PRIMARY KEY,
            group_id   TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER,
            max_uses   INTEGER,
            uses       INTEGER NOT NULL DEFAULT 0,
            note       TEXT NOT NULL DEFAULT '',
            revoked_at INTEGER,
            revoked_by TEXT
        ) WITHOUT ROWID;
        CREATE INDEX invite_links_group ON invite_links(group_id);
        -- group_log pages through one group's record entries, newest first.
        CREATE INDEX audit_group_id ON audit(group_id, id);
        """,
    ),
    (
        11,
        """
        -- Finished uploads. The file is media.path/ab/cd/<sha256> (content-addressed: two rows
        -- with the same bytes share one file). message_media and post_media say what carries
        -- each row; a row nothing carries is removed by the media cleanup, with its file once
        -- no other row names that sha256.
        CREATE TABLE media (
            media_id   TEXT PRIMARY KEY,
            sha256     TEXT NOT NULL,
            uploader   TEXT NOT NULL,
            mime       TEXT NOT NULL,
            kind       TEXT NOT NULL,
            size       INTEGER NOT NULL,
            name       TEXT,
            width      INTEGER,
            height     INTEGER,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX media_sha256 ON media(sha256);
        CREATE INDEX media_created ON media(created_at);
        """,
    ),
    (
        12,
        """
        -- Read markers: how far each user has read each group, shared by all their devices.
        CREATE TABLE read_state (
            user_id  TEXT NOT NULL,
            group_id TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            PRIMARY KEY (user_id, group_id)
        ) WITHOUT ROWID;

        -- Message search (FTS5, trigram tokenizer). messages has no integer rowid, so each group
        -- gets a number n and a message's key in the index is (n << 32) | seq: one group's
        -- messages are one key range, in seq order, so a search reads only that group, newest first.
        -- The index holds a group's visible messages (not held, not deleted) up to indexed_seq:
        -- new messages are not indexed one by one (FTS5 writes a segment for every statement that
        -- adds to it, tens of microseconds a message) but many at a time by the writer, which then
        -- moves indexed_seq up as it indexes them (sqlite_search.index_slice).
        CREATE TABLE search_groups (
            n           INTEGER PRIMARY KEY,
            group_id    TEXT NOT NULL UNIQUE,
            indexed_seq INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO search_groups (group_id, indexed_seq)
            SELECT group_id, last_seq FROM groups ORDER BY created_at, group_id;
        CREATE TRIGGER groups_search_number AFTER INSERT ON groups BEGIN
            INSERT OR IGNORE INTO search_groups (group_id) VALUES (NEW.group_id);
        END;
        -- What the index holds, exactly. U+FFFF is appended to each text so that every
        -- occurrence of a two-character string begins some trigram.
        CREATE VIEW message_search_source AS
            SELECT (s.n << 32) | m.seq AS key, m.text || char(65535) AS text
            FROM messages m JOIN search_groups s ON s.group_id = m.group_id
            WHERE m.seq <= s.indexed_seq AND m.held = 0 AND m.deleted_at IS NULL;
        CREATE VIRTUAL TABLE message_search USING fts5(
            text, content = 'message_search_source', content_rowid = 'key',
            tokenize = 'trigram case_sensitive 0');
        CREATE VIRTUAL TABLE message_search_instances USING fts5vocab(message_search, 'instance');
        -- Edits, holds released, deletions and purges of indexed messages change the index at
        -- once, by triggers, removing exactly what was indexed (the old text) before adding the new.
        CREATE TRIGGER message_search_update AFTER UPDATE OF text, held, deleted_at ON messages
        WHEN (OLD.held = 0 AND OLD.deleted_at IS NULL) OR (NEW.held = 0 AND NEW.deleted_at IS NULL) BEGIN
            INSERT INTO message_search (message_search, rowid, text)
            SELECT 'delete', (n << 32) | OLD.seq, OLD.text || char(65535) FROM search_groups
            WHERE group_id = OLD.group_id AND OLD.seq <= indexed_seq AND OLD.held = 0 AND OLD.deleted_at IS NULL;
            INSERT INTO message_search (rowid, text)
            SELECT (n << 32) | NEW.seq, NEW.text || char(65535) FROM search_groups
            WHERE group_id = NEW.group_id AND NEW.seq <= indexed_seq AND NEW.held = 0 AND NEW.deleted_at IS NULL;
        END;
        CREATE TRIGGER message_search_delete AFTER DELETE ON messages
        WHEN OLD.held = 0 AND OLD.deleted_at IS NULL BEGIN
            INSERT INTO message_search (message_search, rowid, text)
            SELECT 'delete', (n << 32) | OLD.seq, OLD.text || char(65535) FROM search_groups
            WHERE group_id = OLD.group_id AND OLD.seq <= indexed_seq;
        END;
        INSERT INTO message_search (message_search) VALUES ('rebuild');
        """,
    ),
    (
        13,
        """
        -- Public accounts (P4-P13): broadcast channels run by a verified subject. Rows are never
        -- deleted: an account id stays taken for all time, and a closed account keeps its records.
        -- name_key is the name ignoring case, width and spaces: one account per such name.
        -- subject_key: keyed hash of the owner's verified ID number (individual) or of the
        -- organisation's unified social credit code; max_per_subject counts live accounts by it.
        CREATE TABLE accounts (
            account_id   TEXT PRIMARY KEY,
            name         TEXT NOT NULL,
            name_key     TEXT NOT NULL UNIQUE,
            category     TEXT NOT NULL,
            intro        TEXT NOT NULL DEFAULT '',
            subject_type TEXT NOT NULL,
            subject_key  TEXT NOT NULL,
            org_name     TEXT,
            org_code     TEXT,
            owner_id     TEXT NOT NULL,
            labels       TEXT NOT NULL DEFAULT '[]',
            credit_score INTEGER NOT NULL,
            comments_restricted INTEGER NOT NULL DEFAULT 0,
            suspended_until INTEGER NOT NULL DEFAULT 0,
            created_at   INTEGER NOT NULL,
            closed_at    INTEGER,
            closed_reason TEXT
        );
        CREATE INDEX accounts_subject ON accounts(subject_key);
        CREATE INDEX accounts_owner ON accounts(owner_id);

        CREATE TABLE account_editors (
            account_id TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            added_at   INTEGER NOT NULL,
            PRIMARY KEY (account_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX account_editors_user ON account_editors(user_id);

        CREATE TABLE subscriptions (
            account_id TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            ts         INTEGER NOT NULL,
            PRIMARY KEY (account_id, user_id)
        ) WITHOUT ROWID;
        CREATE INDEX subscriptions_user ON subscriptions(user_id);

        -- held: 0 public, 1 held for the platform's review (the content filter asked for it).
        -- A deleted (by the account) or removed (by an operator) post is kept for the record.
        CREATE TABLE posts (
            post_id       INTEGER PRIMARY KEY,
            account_id    TEXT NOT NULL,
            author_id     TEXT NOT NULL,
            title         TEXT NOT NULL,
            body          TEXT NOT NULL,
            attachments   TEXT NOT NULL DEFAULT '[]',
            comments_mode TEXT NOT NULL,
            ts            INTEGER NOT NULL,
            held          INTEGER NOT NULL DEFAULT 0,
            reads         INTEGER NOT NULL DEFAULT 0,
            deleted_at    INTEGER,
            deleted_by    TEXT,
            removed_at    INTEGER,
            removed_reason TEXT
        );
        CREATE INDEX posts_account ON posts(account_id, post_id);
        CREATE INDEX posts_ts ON posts(ts);
        -- Which uploads a post carries (media retention keeps them while the post is kept).
        CREATE TABLE post_media (
            post_id  INTEGER NOT NULL,
            media_id TEXT NOT NULL,
            PRIMARY KEY (post_id, media_id)
        ) WITHOUT ROWID;
        CREATE INDEX post_media_media ON post_media(media_id);

        -- One read per user and post.
        CREATE TABLE post_reads (
            post_id INTEGER NOT NULL,
            user_id TEXT NOT NULL,
            ts      INTEGER NOT NULL,
            PRIMARY KEY (post_id, user_id)
        ) WITHOUT ROWID;

        -- status: visible | held (review mode, or the content filter asked the platform to look)
        -- | hidden | deleted. review: the filter's category while the platform's review is pending.
        CREATE TABLE comments (
            comment_id INTEGER PRIMARY KEY,
            post_id    INTEGER NOT NULL,
            user_id    TEXT NOT NULL,
            text       TEXT NOT NULL,
            reply_to   INTEGER,
            ts         INTEGER NOT NULL,
            status     TEXT NOT NULL,
            review     TEXT,
            moderated_by TEXT,
            moderated_at INTEGER
        );
        CREATE INDEX comments_post ON comments(post_id, comment_id);
        CREATE INDEX comments_ts ON comments(ts);

        -- Verified people and organisations barred from running accounts (P13 blacklist).
        CREATE TABLE barred_subjects (
            subject_key TEXT PRIMARY KEY,
            reason      TEXT NOT NULL,
            barred_at   INTEGER NOT NULL
        ) WITHOUT ROWID;

        -- Reports on accounts, posts and comments (P15).
        ALTER TABLE reports ADD COLUMN account_id TEXT;
        ALTER TABLE reports ADD COLUMN post_id INTEGER;
        ALTER TABLE reports ADD COLUMN comment_id INTEGER;
        """,
    ),
    (
        14,
        """
        -- The platform's measures on public accounts (P10-P13): the record entries naming one
        -- account (export --account) and the retention purge of read logs by age.
        CREATE INDEX audit_target ON audit(target_id, ts);
        CREATE INDEX post_reads_ts ON post_reads(ts);
        -- Posts leave only through the retention purge; which uploads they carried leaves with them.
        CREATE TRIGGER post_media_with_post AFTER DELETE ON posts
        BEGIN
            DELETE FROM post_media WHERE post_id = OLD.post_id;
        END;
        """,
    ),
    (
        15,
        """
        -- One content-review queue for messages and for public accounts' posts and comments that
        -- the word lists held (kind: message | post | comment). A message item names group_id and
        -- seq; a post item account_id and post_id; a comment item account_id, post_id (its post)
        -- and comment_id. SQLite cannot drop NOT NULL from group_id and seq: the table is rebuilt.
        CREATE TABLE review_queue_15 (
            item_id    INTEGER PRIMARY KEY,
            group_id   TEXT,
            seq        INTEGER,
            sender_id  TEXT NOT NULL,
            action     TEXT NOT NULL,
            category   TEXT NOT NULL,
            term       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status     TEXT NOT NULL DEFAULT 'open',
            decision   TEXT,
            note       TEXT,
            decided_at INTEGER,
            kind       TEXT NOT NULL DEFAULT 'message',
            account_id TEXT,
            post_id    INTEGER,
            comment_id INTEGER
        );
        INSERT INTO review_queue_15 (item_id, group_id, seq, sender_id, action, category, term, created_at,
                                     status, decision, note, decided_at)
        SELECT item_id, group_id, seq, sender_id, action, category, term, created_at,
               status, decision, note, decided_at FROM review_queue;
        DROP TABLE review_queue;
        ALTER TABLE review_queue_15 RENAME TO review_queue;
        CREATE INDEX review_queue_status ON review_queue(status, created_at);
        """,
    ),
    (
        16,
        """
        -- Public accounts: who opened each account. opener_key is the keyed hash (hex) of the
        -- opening user's verified ID number, for organisation accounts too, so max_per_subject
        -- also counts the organisation accounts a person acts for and a blacklisting reaches
        -- them. Existing accounts take their owner's (the owner is the one who opened it).
        ALTER TABLE accounts ADD COLUMN opener_key TEXT;
        UPDATE accounts SET opener_key = (SELECT lower(hex(u.id_hmac)) FROM users u
                                          WHERE u.user_id = accounts.owner_id AND u.id_hmac IS NOT NULL);
        CREATE INDEX accounts_opener ON accounts(opener_key);
        -- Record entries naming a public account in their detail (the content filter's hits on
        -- posts and comments are recorded against their author): export --account reads them too.
        CREATE INDEX audit_account ON audit(json_extract(detail, '$.account_id'), ts);
        """,
    ),
    (
        17,
        """
        -- SMS codes outstanding (governance/codes.py), as a MAC of phone and code under the
        -- lookup key: a restart, or another node taking over as home, keeps them valid.
        CREATE TABLE sms_codes (
            phone_key  TEXT PRIMARY KEY,
            code_mac   BLOB NOT NULL,
            expires_at INTEGER NOT NULL
        );
        -- The network-log rows the rate limits on codes and failed logins are rebuilt from at
        -- start (server/limits.py): a partial index, so other rows cost it nothing.
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed');
        """,
    ),
    (
        18,
        """
        -- Group categories the platform froze (freeze-category, G5 emergency handling) and until
        -- when: no group is opened in, or moved into, a frozen category meanwhile.
        CREATE TABLE category_freezes (
            category TEXT PRIMARY KEY,
            until    INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        19,
        """
        -- A refused verify_identity counts like a wrong password (it tells whether an ID number
        -- has accounts here, or is barred): its rows join the ones the limits are rebuilt from.
        DROP INDEX netlog_limited;
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed',
                           'verify_identity_failed');
        """,
    ),
    (
        20,
        """
        -- The credit points a sanction took from the user or account it names, so that an upheld
        -- appeal (or a lift --restore-credit) gives back exactly what was taken (G11).
        ALTER TABLE sanctions ADD COLUMN credit_taken INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        21,
        """
        -- my_appeals: a user's appeals, newest first, without reading the whole table.
        CREATE INDEX appeals_by_user ON appeals(user_id, appeal_id);
        """,
    ),
    (
        22,
        """
        -- Public-account categories the platform froze (freeze-category --accounts, P5 emergency
        -- handling) and until when: no account is opened in a frozen category meanwhile.
        CREATE TABLE account_category_freezes (
            category TEXT PRIMARY KEY,
            until    INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        23,
        """
        -- When each background job last ran (server/retention.py, server/media/cleanup.py): a
        -- node that starts, or becomes a cluster's home, waits only for what is left of the
        -- job's interval, so a job runs even when nodes restart more often than its interval.
        CREATE TABLE job_runs (
            name     TEXT PRIMARY KEY,
            last_run INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        24,
        """
        -- Review items for texts that are not stored elsewhere while they wait (kind group_name,
        -- announcement: group_id and sender_id, who set it; display_name: sender_id, the user):
        -- item_text is the text under review, expect_text the value the field must still show for
        -- the operator's decision to change it (governance/shown_text.py).
        ALTER TABLE review_queue ADD COLUMN item_text TEXT;
        ALTER TABLE review_queue ADD COLUMN expect_text TEXT;
        """,
    ),
    (
        25,
        """
        -- The sanction that replaced this one: a shorter suspend-group / suspend-admin lifts, in its
        -- own transaction, the suspensions it cuts short (server/operator/sanctions.py: replacing)
        -- and names itself here; NULL for every other sanction, lifted or not. An upheld appeal of a
        -- sanction replaced so gives its points back (nobody chose then whether they come back).
        -- lift_reason stays the readable text for operators and is never parsed.
        ALTER TABLE sanctions ADD COLUMN replaced_by INTEGER;
        -- Rows from before: their replacement was told only by the text ("replaced by a shorter
        -- suspend-group: REASON"). One is taken as replaced only where the sanction that replaced it
        -- is found: the same command's, on the same target, started the moment it was lifted, by the
        -- same operator, with that REASON. An operator's own lift whose words begin the same way
        -- has no such sanction beside it (short of copying all of that to the millisecond): NULL.
        UPDATE sanctions SET replaced_by = (
            SELECT MIN(n.id) FROM sanctions AS n
            WHERE n.target_type = sanctions.target_type AND n.target_id = sanctions.target_id
              AND n.kind = sanctions.kind AND n.id > sanctions.id AND n.starts_at = sanctions.lifted_at
              AND n.actor = sanctions.lifted_by
              AND sanctions.lift_reason = 'replaced by a shorter ' || replace(n.kind, '_', '-') || ': ' || n.reason)
        WHERE lifted_at IS NOT NULL AND kind IN ('suspend_group', 'suspend_admin')
          AND substr(lift_reason, 1, 22) = 'replaced by a shorter ';
        """,
    ),
    (
        26,
        """
        -- The bytes of one user's uploads (media.max_bytes_per_user), summed from the index alone.
        CREATE INDEX media_uploader ON media(uploader, size);
        """,
    ),
    (
        27,
        """
        -- A read's row stays while its post does (it says the reader was counted), so the retention
        -- purge of read logs must not walk those: it starts from the posts that are gone, noted here
        -- as they go (a trigger; posts leave only through the retention purge), and reaches each
        -- one's reads past their period by (post_id, ts). A note goes once its post has no reads left.
        CREATE TABLE gone_posts (post_id INTEGER PRIMARY KEY);
        INSERT INTO gone_posts (post_id)
            SELECT DISTINCT post_id FROM post_reads WHERE post_id NOT IN (SELECT post_id FROM posts);
        CREATE TRIGGER gone_posts_note AFTER DELETE ON posts
        BEGIN
            INSERT OR IGNORE INTO gone_posts (post_id) VALUES (OLD.post_id);
        END;
        CREATE INDEX post_reads_post_ts ON post_reads(post_id, ts);
        DROP INDEX post_reads_ts;
        """,
    ),
    (
        28,
        """
        -- The last entry appended to the enforcement record, moved in each append's transaction
        -- (sqlite_changes.py: append_audit). An append continues from it, not from whatever entry is
        -- last: entries removed from the end stay a gap, their ids are never used again, and
        -- verify-audit checks that the record still reaches it. One row (one = 1), from the record's
        -- last entry (an empty record: id 0 and the chain's origin).
        CREATE TABLE audit_head (
            one     INTEGER PRIMARY KEY CHECK (one = 1),
            last_id INTEGER NOT NULL,
            hash    TEXT NOT NULL,
            mac     TEXT
        );
        INSERT INTO audit_head (one, last_id, hash, mac)
            SELECT 1, id, hash, mac FROM audit WHERE id = (SELECT MAX(id) FROM audit)
            UNION ALL
            SELECT 1, 0, hex(zeroblob(32)), hex(zeroblob(32)) WHERE NOT EXISTS (SELECT 1 FROM audit);
        """,
    ),
    (
        29,
        """
        -- Post ids are never given again. posts.post_id was an INTEGER PRIMARY KEY without
        -- AUTOINCREMENT, so SQLite gave a new post the highest id left plus one: once the newest
        -- post was purged, the next post took its id, and the rows still naming the old one (its
        -- readers' post_reads, kept until the read-log purge; gone_posts; reports, review items)
        -- named the new one: an old reader counted as having read it. AUTOINCREMENT needs the
        -- table rebuilt: every row is kept with its id, then its indexes and triggers made again.
        -- (PostgreSQL's post ids come from an identity sequence, never reused.)
        CREATE TABLE posts_29 (
            post_id       INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id    TEXT NOT NULL,
            author_id     TEXT NOT NULL,
            title         TEXT NOT NULL,
            body          TEXT NOT NULL,
            attachments   TEXT NOT NULL DEFAULT '[]',
            comments_mode TEXT NOT NULL,
            ts            INTEGER NOT NULL,
            held          INTEGER NOT NULL DEFAULT 0,
            reads         INTEGER NOT NULL DEFAULT 0,
            deleted_at    INTEGER,
            deleted_by    TEXT,
            removed_at    INTEGER,
            removed_reason TEXT
        );
        INSERT INTO posts_29 (post_id, account_id, author_id, title, body, attachments, comments_mode, ts,
                              held, reads, deleted_at, deleted_by, removed_at, removed_reason)
        SELECT post_id, account_id, author_id, title, body, attachments, comments_mode, ts,
               held, reads, deleted_at, deleted_by, removed_at, removed_reason FROM posts;
        DROP TABLE posts;
        ALTER TABLE posts_29 RENAME TO posts;
        CREATE INDEX posts_account ON posts(account_id, post_id);
        CREATE INDEX posts_ts ON posts(ts);
        CREATE TRIGGER post_media_with_post AFTER DELETE ON posts
        BEGIN
            DELETE FROM post_media WHERE post_id = OLD.post_id;
        END;
        CREATE TRIGGER gone_posts_note AFTER DELETE ON posts
        BEGIN
            INSERT OR IGNORE INTO gone_posts (post_id) VALUES (OLD.post_id);
        END;
        -- The next id is above every id a post ever had that some row still names, also one purged
        -- before this upgrade when it was the newest (its id would otherwise be given once more).
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'posts', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'posts');
        UPDATE sqlite_sequence SET seq = MAX(seq,
            COALESCE((SELECT MAX(post_id) FROM posts), 0),
            COALESCE((SELECT MAX(post_id) FROM gone_posts), 0),
            COALESCE((SELECT MAX(post_id) FROM post_reads), 0),
            COALESCE((SELECT MAX(post_id) FROM post_media), 0),
            COALESCE((SELECT MAX(post_id) FROM comments), 0),
            COALESCE((SELECT MAX(post_id) FROM reports), 0),
            COALESCE((SELECT MAX(post_id) FROM review_queue), 0))
        WHERE name = 'posts';
        """,
    ),
    (
        30,
        """
        -- Comment ids are never given again, as post ids (29). comments.comment_id was an INTEGER
        -- PRIMARY KEY without AUTOINCREMENT: once the newest comment was purged, the next comment
        -- took its id, and the rows still naming the old one (a decided review item, a resolved
        -- report, the enforcement record's entries, a reply) named the new one: a review item left
        -- out of the review list once its comment went came back showing the new comment's text.
        -- The table is rebuilt with every row and its id, then its indexes made again (it has no
        -- triggers). (PostgreSQL's comment ids come from an identity sequence, never reused.)
        CREATE TABLE comments_30 (
            comment_id INTEGER PRIMARY KEY AUTOINCREMENT,
            post_id    INTEGER NOT NULL,
            user_id    TEXT NOT NULL,
            text       TEXT NOT NULL,
            reply_to   INTEGER,
            ts         INTEGER NOT NULL,
            status     TEXT NOT NULL,
            review     TEXT,
            moderated_by TEXT,
            moderated_at INTEGER
        );
        INSERT INTO comments_30 (comment_id, post_id, user_id, text, reply_to, ts, status, review,
                                 moderated_by, moderated_at)
        SELECT comment_id, post_id, user_id, text, reply_to, ts, status, review, moderated_by, moderated_at
        FROM comments;
        DROP TABLE comments;
        ALTER TABLE comments_30 RENAME TO comments;
        CREATE INDEX comments_post ON comments(post_id, comment_id);
        CREATE INDEX comments_ts ON comments(ts);
        -- The next id is above every comment id some row still names, also one purged before this
        -- upgrade when it was the newest. The record's entries name comments in their detail
        -- (moderate_comment, remove-comment, review decisions, filter hits), as text or as a number.
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'comments', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'comments');
        UPDATE sqlite_sequence SET seq = MAX(seq,
            COALESCE((SELECT MAX(comment_id) FROM comments), 0),
            COALESCE((SELECT MAX(reply_to) FROM comments), 0),
            COALESCE((SELECT MAX(comment_id) FROM reports), 0),
            COALESCE((SELECT MAX(comment_id) FROM review_queue), 0),
            COALESCE((SELECT MAX(CAST(json_extract(detail, '$.comment_id') AS INTEGER)) FROM audit
                      WHERE instr(detail, '"comment_id"') > 0 AND json_valid(detail)), 0))
        WHERE name = 'comments';
        """,
    ),
    (
        31,
        """
        -- A comment's earlier measures, found by its id (storage: CommentPenalty's look-up, with the
        -- same expression, so the record is not read from the start for each comment penalised).
        CREATE INDEX audit_comment ON audit(CAST(json_extract(detail, '$.comment_id') AS TEXT));
        """,
    ),
    (
        32,
        """
        -- The platform's releases of held messages, posts and comments, by kind and time: a text
        -- released is shown from then, so the retention purge keeps it a full period after its
        -- release (sqlite_records.py: released), and reads in each batch only the last period's
        -- releases, not every decided item.
        CREATE INDEX review_queue_released ON review_queue(kind, decided_at) WHERE decision = 'release';
        """,
    ),
    (
        33,
        """
        -- Report ids and review item ids are never given again, as post and comment ids (29, 30).
        -- Both were INTEGER PRIMARY KEYs without AUTOINCREMENT: once the newest report (or item) was
        -- purged, the next one took its id, and what still named the old one, kept for good (a
        -- sanction's report_id, the enforcement record's report_id and item_id), named the new one:
        -- an operator's listing or an export linked a measure to the wrong complaint or decision.
        -- Both tables are rebuilt with every row and its id, then their indexes made again (they
        -- have no triggers). (PostgreSQL's ids come from identity sequences, never reused.)
        CREATE TABLE reports_33 (
            report_id   INTEGER PRIMARY KEY AUTOINCREMENT,
            reporter_id TEXT NOT NULL,
            target_type TEXT NOT NULL,
            group_id    TEXT,
            seq         INTEGER,
            user_id     TEXT,
            reason      TEXT NOT NULL,
            detail      TEXT NOT NULL DEFAULT '',
            created_at  INTEGER NOT NULL,
            status      TEXT NOT NULL DEFAULT 'open',
            outcome     TEXT,
            note        TEXT,
            resolved_at INTEGER,
            resolved_by TEXT,
            account_id  TEXT,
            post_id     INTEGER,
            comment_id  INTEGER
        );
        INSERT INTO reports_33 (report_id, reporter_id, target_type, group_id, seq, user_id, reason, detail,
                                created_at, status, outcome, note, resolved_at, resolved_by, account_id, post_id,
                                comment_id)
        SELECT report_id, reporter_id, target_type, group_id, seq, user_id, reason, detail,
               created_at, status, outcome, note, resolved_at, resolved_by, account_id, post_id, comment_id
        FROM reports;
        DROP TABLE reports;
        ALTER TABLE reports_33 RENAME TO reports;
        CREATE INDEX reports_status ON reports(status, created_at);
        CREATE INDEX reports_reporter ON reports(reporter_id, created_at);
        CREATE TABLE review_queue_33 (
            item_id    INTEGER PRIMARY KEY AUTOINCREMENT,
            group_id   TEXT,
            seq        INTEGER,
            sender_id  TEXT NOT NULL,
            action     TEXT NOT NULL,
            category   TEXT NOT NULL,
            term       TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status     TEXT NOT NULL DEFAULT 'open',
            decision   TEXT,
            note       TEXT,
            decided_at INTEGER,
            kind       TEXT NOT NULL DEFAULT 'message',
            account_id TEXT,
            post_id    INTEGER,
            comment_id INTEGER,
            item_text  TEXT,
            expect_text TEXT
        );
        INSERT INTO review_queue_33 (item_id, group_id, seq, sender_id, action, category, term, created_at, status,
                                     decision, note, decided_at, kind, account_id, post_id, comment_id, item_text,
                                     expect_text)
        SELECT item_id, group_id, seq, sender_id, action, category, term, created_at, status,
               decision, note, decided_at, kind, account_id, post_id, comment_id, item_text, expect_text
        FROM review_queue;
        DROP TABLE review_queue;
        ALTER TABLE review_queue_33 RENAME TO review_queue;
        CREATE INDEX review_queue_status ON review_queue(status, created_at);
        CREATE INDEX review_queue_released ON review_queue(kind, decided_at) WHERE decision = 'release';
        -- The next ids are above every id some row still names, also one purged before this upgrade
        -- when it was the newest: sanctions name reports, and the record's entries name both in
        -- their detail (resolve_report, review decisions, held texts), as text or as a number.
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'reports', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'reports');
        UPDATE sqlite_sequence SET seq = MAX(seq,
            COALESCE((SELECT MAX(report_id) FROM reports), 0),
            COALESCE((SELECT MAX(report_id) FROM sanctions), 0),
            COALESCE((SELECT MAX(CAST(json_extract(detail, '$.report_id') AS INTEGER)) FROM audit
                      WHERE instr(detail, '"report_id"') > 0 AND json_valid(detail)), 0))
        WHERE name = 'reports';
        INSERT INTO sqlite_sequence (name, seq)
            SELECT 'review_queue', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'review_queue');
        UPDATE sqlite_sequence SET seq = MAX(seq,
            COALESCE((SELECT MAX(item_id) FROM review_queue), 0),
            COALESCE((SELECT MAX(CAST(json_extract(detail, '$.item_id') AS INTEGER)) FROM audit
                      WHERE instr(detail, '"item_id"') > 0 AND json_valid(detail)), 0))
        WHERE name = 'review_queue';
        """,
    ),
    (
        34,
        """
        -- The suspensions a public account carries from its subject's accounts (changes.InsertAccount):
        -- the sanctions that stood on them when it opened, as a JSON array of [sanction id, account
        -- id, end]; each ends for it when it ends or is lifted there (state.Account.suspension_end).
        ALTER TABLE accounts ADD COLUMN carried TEXT NOT NULL DEFAULT '[]';
        -- 'freeze': a sanction a category's freeze took (server/operator/freezing.py), which a new
        -- account of the subject does not carry; NULL: a measure on the target itself.
        ALTER TABLE sanctions ADD COLUMN cause TEXT;
        -- Those taken before: the freeze upkeep's (by 'system'), and each freeze's per-target ones,
        -- whose record entry names the category and the sanction.
        UPDATE sanctions SET cause = 'freeze'
        WHERE kind IN ('suspend_account', 'suspend_group') AND (actor = 'system' OR id IN (
            SELECT CAST(CASE WHEN json_valid(detail) THEN json_extract(detail, '$.sanction_id') END AS INTEGER)
            FROM audit WHERE action IN ('suspend_account', 'suspend_group') AND instr(detail, '"category"') > 0));
        """,
    ),
    (
        35,
        """
        -- A held post its account deleted left its review item open (a later rejection charged its
        -- author for a post nobody saw): settled as the deletion now settles it (changes.DeletePost).
        UPDATE review_queue SET status = 'decided', decision = 'withdrawn', note = 'deleted by its account',
            decided_at = (SELECT p.deleted_at FROM posts p WHERE p.post_id = review_queue.post_id)
        WHERE status = 'open' AND kind = 'post'
          AND post_id IN (SELECT post_id FROM posts WHERE held = 1 AND deleted_at IS NOT NULL);
        """,
    ),
    (
        36,
        """
        -- Every reaction left or taken back, kept with its message for the record (G13): a reaction is
        -- free text members see, and taking one back deleted its only trace (reactions holds the
        -- ones standing). Purged with its message (sqlite_records.PURGE_DEPENDENTS).
        CREATE TABLE reaction_log (
            group_id TEXT NOT NULL,
            seq      INTEGER NOT NULL,
            user_id  TEXT NOT NULL,
            emoji    TEXT NOT NULL,
            added    INTEGER NOT NULL,  -- 1: left, 0: taken back
            ts       INTEGER NOT NULL
        );
        CREATE INDEX reaction_log_message ON reaction_log(group_id, seq);
        CREATE INDEX reaction_log_user ON reaction_log(user_id, ts);  -- (export --user)
        INSERT INTO reaction_log (group_id, seq, user_id, emoji, added, ts)
            SELECT group_id, seq, user_id, emoji, 1, ts FROM reactions;
        """,
    ),
    (
        37,
        """
        -- change_password checks the current password: a wrong one counts like a wrong password at
        -- login, so its rows join the ones the limits are rebuilt from (storage.base.LIMITED_KINDS).
        DROP INDEX netlog_limited;
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed',
                           'verify_identity_failed', 'change_password_failed');
        """,
    ),
    (
        38,
        """
        -- [ext] my_logins: each login names the device the client gave (login's device), so that a person
        -- can tell their logins apart and end one (logout login_id). Gone with its token.
        ALTER TABLE tokens ADD COLUMN device TEXT NOT NULL DEFAULT '';
        """,
    ),
    (
        39,
        """
        -- Each group's messages per day (day = ts / 86400000), kept by the writer in each batch's
        -- transaction (storage/activity.py), so that a start or a takeover reads the activity window's
        -- counts (groups.activity_window_days) instead of counting a week of messages. Keyed by day
        -- first: the load reads the last days, the purge drops the days past retention.
        CREATE TABLE group_daily (
            day      INTEGER NOT NULL,
            group_id TEXT NOT NULL,
            messages INTEGER NOT NULL,
            PRIMARY KEY (day, group_id)
        ) WITHOUT ROWID;
        INSERT INTO group_daily (day, group_id, messages)
            SELECT ts / 86400000, group_id, COUNT(*) FROM messages GROUP BY 1, 2;
        """,
    ),
    (
        40,
        """
        -- export --user reads the membership changes of a person or by them, and the record entries they
        -- made: by index rather than a scan of the whole log in the export's period.
        CREATE INDEX membership_log_user ON membership_log(user_id, ts);
        CREATE INDEX membership_log_actor ON membership_log(actor_id, ts) WHERE actor_id IS NOT NULL;
        CREATE INDEX audit_actor ON audit(actor_id, ts);
        -- (the author of what a measure took down, the appellant of an appeal decided: its other ways of
        -- naming a person, so that every arm of the export's OR has an index)
        CREATE INDEX audit_author ON audit(json_extract(detail, '$.author_id'), ts);
        CREATE INDEX audit_appellant ON audit(json_extract(detail, '$.appellant'), ts);
        -- (and the code requests for the person's phone, by its keyed hash: only those rows, whose detail
        -- is JSON, are in it)
        CREATE INDEX netlog_code_phone ON netlog(json_extract(detail, '$.phone_hmac'), ts)
            WHERE kind = 'code_request';
        """,
    ),
    (
        41,
        """
        -- The messages purge (changes.PurgeMessages) asks, for each message it looks at, whether a review
        -- item keeps it (open, or a release within the period): by the message's key.
        CREATE INDEX review_queue_message ON review_queue(group_id, seq) WHERE kind = 'message';
        """,
    ),
    (
        42,
        """
        -- review-queue --open pages by item id (--after, --limit): the open items in id order, read
        -- from where the page starts, not all of them sorted for each page.
        CREATE INDEX review_queue_open ON review_queue(status, item_id);
        """,
    ),
    (
        43,
        """
        -- The retention purge deletes login tokens past their expiry (those of accounts that never log in
        -- again, which their own next login would otherwise have deleted): found by expiry.
        CREATE INDEX tokens_expires ON tokens(expires_at);
        """,
    ),
    (
        44,
        """
        -- Why a login ended before its token expired (a logout elsewhere, a new password, ...), kept until
        -- the token would have expired: ``auth`` with it says why (its cause), not only that it failed.
        CREATE TABLE ended_logins (
            token_hash BLOB PRIMARY KEY,
            user_id    TEXT NOT NULL,
            cause      TEXT NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE INDEX ended_logins_expires ON ended_logins(expires_at);
        CREATE INDEX ended_logins_user ON ended_logins(user_id, expires_at);
        """,
    ),
    (
        45,
        """
        -- Each post's number of visible comments, kept by the database as comments come, change status
        -- and go: a read of a post counted all its comments (13 ms at 40,000, for every comment, read
        -- and moderation of it, and for each post of a feed page).
        ALTER TABLE posts ADD COLUMN visible_comments INTEGER NOT NULL DEFAULT 0;
        UPDATE posts SET visible_comments = (
            SELECT COUNT(*) FROM comments c WHERE c.post_id = posts.post_id AND c.status = 'visible');
        CREATE TRIGGER comments_visible_insert AFTER INSERT ON comments WHEN NEW.status = 'visible' BEGIN
            UPDATE posts SET visible_comments = visible_comments + 1 WHERE post_id = NEW.post_id;
        END;
        CREATE TRIGGER comments_visible_delete AFTER DELETE ON comments WHEN OLD.status = 'visible' BEGIN
            UPDATE posts SET visible_comments = visible_comments - 1 WHERE post_id = OLD.post_id;
        END;
        CREATE TRIGGER comments_visible_update AFTER UPDATE OF status ON comments
            WHEN (OLD.status = 'visible') <> (NEW.status = 'visible') BEGIN
            UPDATE posts SET visible_comments = visible_comments + (NEW.status = 'visible') - (OLD.status = 'visible')
            WHERE post_id = NEW.post_id;
        END;
        """,
    ),
    (
        46,
        """
        -- [ext] message_changes: each change to a stored message a member may see (an edit, a recall or
        -- deletion, a hold set or released, a reaction left or taken back) stamps the message with the
        -- next value of one clock, in the change's own transaction, so a client that was away asks for
        -- what changed after the clock it last saw instead of reading every page again. The clock's row
        -- stays locked by the stamping transaction until it commits, so stamps commit in their order,
        -- and the clock's value read before a page bounds what that page can miss. The triggers cover
        -- every path that changes these columns; a purge deletes the message first, so its reactions
        -- going after it stamp nothing. floor: the clock when the database was last restored from a
        -- backup (qunguan restore); a cursor below it is from the database that was replaced.
        ALTER TABLE messages ADD COLUMN rev INTEGER;
        CREATE INDEX messages_rev ON messages(group_id, rev) WHERE rev IS NOT NULL;
        CREATE TABLE message_clock (one INTEGER PRIMARY KEY CHECK (one = 1), rev INTEGER NOT NULL,
                                    floor INTEGER NOT NULL);
        INSERT INTO message_clock (one, rev, floor) VALUES (1, 0, 0);
        CREATE TRIGGER message_rev_update AFTER UPDATE OF text, edited_at, held, deleted_at ON messages
            WHEN OLD.text IS NOT NEW.text OR OLD.edited_at IS NOT NEW.edited_at OR OLD.held IS NOT NEW.held
                 OR OLD.deleted_at IS NOT NEW.deleted_at
        BEGIN
            UPDATE message_clock SET rev = rev + 1;
            UPDATE messages SET rev = (SELECT rev FROM message_clock) WHERE group_id = NEW.group_id AND seq = NEW.seq;
        END;
        CREATE TRIGGER message_rev_reaction_insert AFTER INSERT ON reactions BEGIN
            UPDATE message_clock SET rev = rev + 1;
            UPDATE messages SET rev = (SELECT rev FROM message_clock) WHERE group_id = NEW.group_id AND seq = NEW.seq;
        END;
        CREATE TRIGGER message_rev_reaction_delete AFTER DELETE ON reactions
            WHEN EXISTS (SELECT 1 FROM messages WHERE group_id = OLD.group_id AND seq = OLD.seq)
        BEGIN
            UPDATE message_clock SET rev = rev + 1;
            UPDATE messages SET rev = (SELECT rev FROM message_clock) WHERE group_id = OLD.group_id AND seq = OLD.seq;
        END;
        """,
    ),
    (
        47,
        """
        -- The appeals of the last day by their time: appeals_per_day is read back at a start, as the
        -- other limits are from the network log (server/limits.py); a restart or a takeover gave every
        -- user a fresh day of appeals.
        CREATE INDEX appeals_created ON appeals(created_at);
        """,
    ),
    (
        48,
        """
        -- The open held texts by kind: every new name, announcement or intro closes the held ones of its
        -- field (SupersedeHeldTexts, in the writer's transaction) and my_held_texts lists an author's;
        -- both walked every open item of the review queue, held messages of a raid included (14 ms and
        -- 31 ms at 100,000 of them).
        CREATE INDEX review_queue_held ON review_queue(status, action, kind);
        """,
    ),
    (
        49,
        """
        -- A wrong SMS code given to register or reset_password counts against the address's failed-login
        -- limit (a privacy review guessed the four hidden digits of a phone whose code a log showed, a
        -- thousand tries a second): its rows (code_failed) join the ones the limits are rebuilt from.
        DROP INDEX netlog_limited;
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed',
                           'verify_identity_failed', 'change_password_failed', 'code_failed');
        """,
    ),
    (
        50,
        """
        -- When a sanction's credit points were given back (an upheld appeal, lift --restore-credit): once
        -- only. Nothing marked it, and an appeal upheld after the sanction ran out, then a clock stepped
        -- back into its period, let lift --restore-credit give them back a second time. Sanctions whose
        -- points the record says were given back already are marked as of that entry.
        ALTER TABLE sanctions ADD COLUMN credit_given_back_at INTEGER;
        UPDATE sanctions SET credit_given_back_at = given.ts
        FROM (SELECT json_extract(detail, '$.sanction_id') AS sid, MIN(ts) AS ts FROM audit
              WHERE action IN ('lift_sanction', 'decide_appeal')
                AND json_extract(detail, '$.credit_given_back') > 0
              GROUP BY 1) AS given
        WHERE sanctions.id = given.sid;
        """,
    ),
    (
        51,
        """
        -- The platform's notices of the last 30 days, read at every start (loading.PLATFORM_NOTICES) so
        -- that a user not connected when one went out reads it later (platform_notices): a handful of
        -- rows among every entry of the record.
        CREATE INDEX audit_platform_notice ON audit(ts) WHERE action = 'platform_notice';
        """,
    ),
    (
        52,
        """
        -- Files the platform took down with what carried them (remove-message, remove-post, decide):
        -- by their SHA-256, refused when uploaded or attached again and served nowhere, until released
        -- (release-file). Read whole at every start (a handful of rows next to the media).
        CREATE TABLE taken_down_files (
            sha256   TEXT PRIMARY KEY,
            taken_at INTEGER NOT NULL,
            actor    TEXT NOT NULL,
            cause    TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    (
        53,
        """
        -- Whether a ban's user was an admin when banned: the owner's alone to lift (admins act on members
        -- only), while admins may lift the owner's bans of members, as the wire contract has unban.
        ALTER TABLE bans ADD COLUMN of_admin INTEGER NOT NULL DEFAULT 0;
        """,
    ),
    (
        54,
        """
        -- A password reset by SMS ends the lockout of the account's wrong passwords: its rows
        -- (password_reset) join the ones the limits are rebuilt from, so that a restart does not lock
        -- the owner out again with the guesses made before they proved the phone theirs.
        DROP INDEX netlog_limited;
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed',
                           'verify_identity_failed', 'change_password_failed', 'code_failed', 'password_reset');
        """,
    ),
    (
        55,
        """
        -- The SHA-256 of an upload's bytes as sent, when the file stored differs (an image stored
        -- without its metadata): a list of known files names a photo as it circulates, so one listed
        -- after it was shared is found by it too, and is served and attached no more.
        ALTER TABLE media ADD COLUMN received_sha256 TEXT;
        """,
    ),
    (
        56,
        """
        -- An operator's unlock-login (login_unlocked) ends a lockout as a reset does: its rows join the
        -- ones the limits are rebuilt from, so that a restart does not lock the person out again.
        DROP INDEX netlog_limited;
        CREATE INDEX netlog_limited ON netlog(ts)
            WHERE kind IN ('code_request', 'login_failed', 'auth_failed', 'delete_account_failed',
                           'verify_identity_failed', 'change_password_failed', 'code_failed', 'password_reset',
                           'login_unlocked');
        """,
    ),
    (
        57,
        """
        -- The messages that mentioned everyone, by time: the hour of them read back at a start, so
        -- that a restart does not give each group a fresh hour of mention_all_per_group_per_hour.
        CREATE INDEX messages_mention_all ON messages(ts) WHERE mention_all = 1;
        """,
    ),
    (
        58,
        """
        -- A post's earlier measures, found by its id (storage: PostPenalty's look-up, which a review's
        -- rejection of a held post runs too, with the same expression), as audit_comment for comments:
        -- the record is not read from the start for each post penalised.
        CREATE INDEX audit_post ON audit(CAST(json_extract(detail, '$.post_id') AS TEXT));
        """,
    ),
    (
        59,
        """
        -- The readings of each public account's name with letters of other scripts that pass for Latin
        -- ones read as those (governance.public_accounts.name_readings: Cyrillic Аpple reads as apple;
        -- one or two a name): one account per reading, as name_key is one account per plain key, so that
        -- nobody takes a name that reads as another account's. Rows change with the name (the store's
        -- account changes). This upgrade fills it from the names already there, oldest account first
        -- (server/storage/public.py: first_readings, run by the migration's code): of two accounts whose
        -- names read alike already, the later keeps its name but not the reading they share.
        CREATE TABLE account_name_readings (
            reading    TEXT PRIMARY KEY,
            account_id TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX account_name_readings_account ON account_name_readings(account_id);
        """,
    ),
]
