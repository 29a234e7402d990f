-- Web forms: the contact forms websites post to `/forms/v1/{form_key}`. `form_key` is
-- public (it is in the page's form action).
CREATE TABLE forms (
    id              TEXT PRIMARY KEY,
    form_key        TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    -- JSON array of origins (`https://shop.example`) whose pages may post to it.
    allowed_origins TEXT NOT NULL,
    -- Where a plain HTML form's browser goes after posting; NULL: a page of ours.
    redirect_url    TEXT,
    -- JSON array of the extra fields it declares: [{"name": "order", "required": true}].
    fields          TEXT NOT NULL,
    -- The field hidden from people: a submission with it filled in is spam.
    honeypot        TEXT NOT NULL,
    -- Seconds between the form token's issue and the submission; 0: no token asked.
    min_fill_secs   INTEGER NOT NULL,
    -- A disabled form refuses submissions.
    enabled         BOOLEAN NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
