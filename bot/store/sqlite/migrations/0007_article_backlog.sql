-- Articles taken in silently as a feed's backlog when it was added: no alert, and no digest
-- posts them ("adding a feed never floods a channel"); /brief and search still show them.
ALTER TABLE articles ADD COLUMN backlog INTEGER NOT NULL DEFAULT 0;
