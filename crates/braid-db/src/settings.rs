//! Installation-wide settings, each a JSON document under a name (`csat`, `routing`):
//! read with their defaults until an admin sets them, and changed inside the transaction
//! that writes them, under a lock, so two admins' edits never undo each other.

use braid_core::EventKind;
use diesel::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::{self, NewEvent};
use crate::schema::settings;
use crate::{DbConn, DbError, dialect, to_db};

/// The settings stored under `name`, or `T::default()` when none are.
pub fn get<T: DeserializeOwned + Default>(conn: &mut DbConn, name: &str) -> Result<T, DbError> {
    let stored: Option<String> = settings::table.find(name).select(settings::value).first(conn).optional()?;
    Ok(match stored {
        Some(json) => serde_json::from_str(&json)?,
        None => T::default(),
    })
}

/// Changes the settings under `name`: `change` gets them as they are (and the connection,
/// to check what they name) and returns them as they should be; the change is recorded as
/// a `kind` event.
pub fn change<T: DeserializeOwned + Serialize + Default>(
    conn: &mut DbConn,
    name: &str,
    kind: EventKind,
    change: impl FnOnce(&mut DbConn, T) -> Result<T, DbError>,
) -> Result<T, DbError> {
    dialect::write_transaction(conn, |conn| {
        dialect::lock_key(conn, &format!("settings:{name}"))?;
        let now = get(conn, name)?;
        let new = change(conn, now)?;
        let (value, at) = (serde_json::to_string(&new)?, crate::now());
        let updated = diesel::update(settings::table.find(name))
            .set((settings::value.eq(&value), settings::updated_at.eq(to_db(at))))
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(settings::table)
                .values((settings::name.eq(name), settings::value.eq(&value), settings::updated_at.eq(to_db(at))))
                .execute(conn)?;
        }
        events::append(conn, vec![NewEvent::new(kind, name, &new, at)?])?;
        Ok(new)
    })
}
