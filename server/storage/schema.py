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
]
